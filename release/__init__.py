"""The release path: build the order-api image, push it, and release a tag
into the committed values file and dist/.

Imports stack and synth; the cluster imports it to build the image its node
runs (cluster/image_store.py). `python -m release --help`; the make targets image, push and
release call it.
"""
