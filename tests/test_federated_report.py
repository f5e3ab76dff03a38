"""The FLNet table says how many clients each client-averaged figure covers (clients without a value are left out)."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _run(algorithm, seed, per_placement_b):
    final = {"a": {"auc_pooled": 0.8, "auc_per_placement": 0.7},
             "b": {"auc_pooled": 0.6, "auc_per_placement": per_placement_b},
             "c": {"auc_pooled": 0.9, "auc_per_placement": float("nan")}}
    from federated.report import summarise

    return summarise({"model": "flnet", "algorithm": algorithm, "seed": seed, "final": final})


def test_means_skip_nan_clients_and_the_table_counts_them():
    from federated.report import table

    runs = [_run("local", 0, 0.5), _run("fedavg", 0, 0.5), _run("fedavg", 1, float("nan"))]
    assert runs[0]["mean_auc_per_placement"] == np.mean([0.7, 0.5])
    assert runs[2]["mean_auc_per_placement"] == 0.7
    rows = {line.split(" | ")[1]: line for line in table({"runs": runs}).splitlines() if line.startswith("| flnet")}
    assert "0.767 [3/3]" in rows["local"] and "0.600 [2/3]" in rows["local"]
    assert "0.767 ± 0.000 [3/3]" in rows["fedavg"] and "[1-2/3]" in rows["fedavg"]
    assert "k/N clients" in table({"runs": runs})
