"""Code the tests share (not tests themselves): see `lightning_model`."""
