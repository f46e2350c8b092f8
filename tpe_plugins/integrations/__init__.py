"""Framework integrations for tpe-plugins; the core (`tpe_plugins`) never imports a framework.

Each module imports its framework on import and, when the framework is missing, raises an
ImportError that names the pip extra to install:

- `tpe_plugins.integrations.ray_tune`: `TPESearch` for Ray Tune, `pip install "tpe-plugins[ray]"`
- `tpe_plugins.integrations.lightning`: callbacks, `pip install "tpe-plugins[lightning]"`
"""
