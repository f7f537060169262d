"""Resuming is keyed by the training data's content, not only by the shard index's paths and counts."""

from add.core.layout import data_digest


def test_data_digest_follows_shard_content(tmp_path):
    assert data_digest(tmp_path) == ""  # no index: nothing to resume against
    (tmp_path / "index.json").write_text('{"datasets": {"Deepfakes": {"train": {"count": 2}}}}')
    shard = tmp_path / "Deepfakes" / "train-00000.tar"
    shard.parent.mkdir()
    shard.write_bytes(b"first calibration")
    before = data_digest(tmp_path)
    assert data_digest(tmp_path) == before
    shard.write_bytes(b"other artifacts!!")  # same size, same index: other samples
    assert data_digest(tmp_path) != before
    shard.write_bytes(b"first calibration")
    assert data_digest(tmp_path) == before
