"""The release path: build the order-api image, push it, and release a tag
into the committed values file and dist/.

Sits beside the rehearsal and the cluster (it imports stack and synth, nothing
imports it). `python -m release --help`; the make targets image, push and
release call it.
"""
