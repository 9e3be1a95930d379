"""The catalogue: images.yaml -> candidates, and the CUDA rules that decide which image fits which machine."""
