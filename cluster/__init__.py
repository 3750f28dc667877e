"""A real Kubernetes control plane on one machine, in its own network namespace.

`python -m cluster up | status | kubectl ... | shell | down` (also `make
cluster`, `make cluster-down`). etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kube-proxy and CoreDNS run from the pinned toolchain; the node
is a virtual-kubelet (`cluster/kubelet/`) whose pods are local processes.
"""
