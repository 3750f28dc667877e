// Command kubelet is the node of the order-api-sre local cluster: a
// virtual-kubelet whose provider runs each pod's containers as local
// processes (see provider.go). `kubelet exec` is the in-pod helper that
// sets up a container's namespaces before exec'ing its program.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == helperArg {
		runHelper(os.Args[2:]) // never returns
	}
	if len(os.Args) > 1 && os.Args[1] == sandboxArg {
		runSandbox()
	}
	if len(os.Args) > 1 && os.Args[1] == pidHolderArg {
		runHolder()
	}
	configFile := flag.String("config", "", "kubelet config JSON (written by python -m cluster up)")
	flag.Parse()
	if *configFile == "" {
		fmt.Fprintln(os.Stderr, "kubelet: --config is required")
		os.Exit(2)
	}
	cfg, err := loadConfig(*configFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet:", err)
		os.Exit(1)
	}
}

func run(cfg *Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if cfg.Runc != "" {
		if err := mountCgroups(); err != nil {
			return fmt.Errorf("cgroup hierarchies for runc: %w", err)
		}
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	var prov *Provider
	newProvider := func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
		if err := describeNode(pc.Node, cfg); err != nil {
			return nil, nil, err
		}
		prov = NewProvider(cfg, client)
		return prov, nil, nil
	}
	opts := []nodeutil.NodeOpt{nodeutil.WithClient(client)}
	mux := api.ServeMux(newMux())
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return err
		}
		opts = append(opts, nodeutil.AttachProviderRoutes(mux), func(c *nodeutil.NodeConfig) error {
			c.HTTPListenAddr = cfg.ListenAddr
			c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			c.Handler = mux.(*httpMux)
			c.NumWorkers = 4
			return nil
		})
	}
	n, err := nodeutil.NewNode(cfg.NodeName, newProvider, opts...)
	if err != nil {
		return err
	}
	go func() { _ = n.Run(ctx) }()
	if err := n.WaitReady(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("node not ready: %w", err)
	}
	fmt.Fprintf(os.Stderr, "kubelet: node %s ready\n", cfg.NodeName)
	<-ctx.Done()
	// Stop every pod before exiting: their processes would die with us anyway
	// (Pdeathsig), but this also releases their CNI addresses.
	prov.Shutdown(5 * time.Second)
	select {
	case <-n.Done():
	case <-time.After(2 * time.Second):
	}
	return nil
}

// describeNode fills in what the scheduler and kubectl read from a node.
func describeNode(n *corev1.Node, cfg *Config) error {
	n.Labels["kubernetes.io/os"] = "linux"
	n.Labels["kubernetes.io/arch"] = "amd64"
	n.Labels["node.kubernetes.io/instance-type"] = "local-processes"
	capacity, err := machineCapacity(procFS{root: "/proc"})
	if err != nil {
		return err
	}
	n.Status.Capacity = capacity
	n.Status.Allocatable = capacity
	n.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: cfg.NodeIP},
		{Type: corev1.NodeHostName, Address: cfg.NodeName},
	}
	n.Status.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}}
	n.Status.NodeInfo = corev1.NodeSystemInfo{
		OperatingSystem:         "linux",
		Architecture:            "amd64",
		KubeletVersion:          "v1.35.0-order-api-sre",
		ContainerRuntimeVersion: "local-processes://0",
	}
	return nil
}
