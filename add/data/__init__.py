"""Data half of ADD: FF++ layout, download, demo dataset, face extraction, shards and the loader."""
