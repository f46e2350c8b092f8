"""Pruning through the optimiser (tpe_plugins/pruners.py): report, should_prune, prune."""



import tpe_plugins as tp


def test_report_and_prune_keep_the_trial():
    opt = tp.TPE({"x": tp.Float(0, 1)}, seed=0, pruner=tp.MedianPruner(n_startup_trials=2))
    for v in (1.0, 2.0, 3.0):
        t = opt.ask()
        for step in range(3):
            opt.report(t, step, v)
        opt.tell(t, v)
    t = opt.ask()
    opt.report(t, 0, 5.0)
    assert opt.should_prune(t)
    pruned = opt.prune(t)
    assert pruned.state == "pruned" and pruned.value == 5.0
    t = opt.ask()
    opt.report(t, 0, 0.5)
    assert not opt.should_prune(t)
