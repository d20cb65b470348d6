"""The exports load unchanged in anomalib 2.7's MVTec AD and Folder datamodules."""

import numpy as np
from anomalib import data as anomalib_data  # a test requirement (requirements-test.txt)

from dsaii_core.export import export_workspace


def test_mvtec_export_loads_in_anomalib_mvtec_datamodule(demo_ws, tmp_path):
    export_workspace(demo_ws, tmp_path / "mvtec", "mvtec", seed=0, test_ratio=0.2)
    datamodule = anomalib_data.MVTecAD(root=tmp_path / "mvtec", category="hazelnut", num_workers=0,
                                       train_batch_size=4, eval_batch_size=4)
    datamodule.setup()
    train, test = datamodule.train_data, datamodule.test_data
    assert len(train) == 14 and len(test) == 4 + 8
    labels = test.samples.label_index.to_numpy()
    assert (labels == 1).sum() == 8
    anomalous = test[int(np.flatnonzero(labels == 1)[0])]
    assert anomalous.gt_mask.shape[-2:] == anomalous.image.shape[-2:] and anomalous.gt_mask.any()


def test_dsaii_export_loads_in_anomalib_folder_datamodule(demo_ws, tmp_path):
    export_workspace(demo_ws, tmp_path / "dsaii", "dsaii")
    datamodule = anomalib_data.Folder(name="ball_screw", root=tmp_path / "dsaii" / "ball_screw", normal_dir="normal",
                                      abnormal_dir="anomaly", mask_dir="mask", num_workers=0,
                                      train_batch_size=4, eval_batch_size=4)
    datamodule.setup()
    sizes = [len(datamodule.train_data), len(datamodule.val_data), len(datamodule.test_data)]
    assert sum(sizes) == 12 + 6
    sample = datamodule.test_data[len(datamodule.test_data) - 1]
    assert sample.gt_mask.shape[-2:] == sample.image.shape[-2:]
