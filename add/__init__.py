"""ADD: Attention-based Deepfake detection Distiller."""
