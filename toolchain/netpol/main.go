// kube-router-netpol runs kube-router's network-policy controller and nothing
// else, the way k3s embeds it: firewall only. No routing, no service proxy
// (kube-proxy keeps the Services), no BGP, no CNI. Only the packages
// pkg/controllers/netpol, pkg/healthcheck, pkg/options and pkg/utils of
// kube-router are linked: its service proxy (pkg/controllers/proxy), where
// GHSA-phqm-jgc3-qf8g is reported against v2.1.0, is not part of this binary.
//
// It watches pods, namespaces and NetworkPolicies and keeps the filter table
// and the ipsets of the network namespace it runs in equal to the policies of
// the pods on its node (pods whose status.hostIP is the node's InternalIP).
//
// One rule is ours (--kube-proxy-first): kube-router v2.1.0 ends its
// KUBE-ROUTER-FORWARD chain, which it keeps first in FORWARD, with an ACCEPT
// of every packet the policies allow, so kube-proxy's FORWARD rules (the
// REJECT of a Service without endpoints) never see a pod's packets. k3s's
// build of kube-router appends that ACCEPT to the built-in chains instead,
// after kube-proxy's. The same order here: a jump to kube-proxy's
// KUBE-SERVICES for new connections, first in KUBE-ROUTER-FORWARD, written
// before the controller's first sync, which keeps it (it restores what it saved).
//
// Usage: kube-router-netpol --kubeconfig FILE --hostname-override NODE
//
//	--service-cluster-ip-range CIDR [--node-port-range A-B] [--sync-period D] [-v N]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/cloudnativelabs/kube-router/v2/pkg/controllers/netpol"
	"github.com/cloudnativelabs/kube-router/v2/pkg/healthcheck"
	"github.com/cloudnativelabs/kube-router/v2/pkg/options"
	"github.com/cloudnativelabs/kube-router/v2/pkg/utils"
	v1core "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// version is set by the toolchain build (-ldflags -X): the hash of these sources.
var version = "dev"

const upstream = "github.com/cloudnativelabs/kube-router/v2"

// stopGrace bounds the wait for the controller's goroutines after SIGTERM.
const stopGrace = 5 * time.Second

type settings struct {
	kubeconfig  string
	node        string
	serviceCIDR string
	nodePorts   string
	syncPeriod  time.Duration
	proxyFirst  bool
	showVersion bool
}

func parseFlags() settings {
	var s settings
	klog.InitFlags(nil)
	flag.StringVar(&s.kubeconfig, "kubeconfig", "", "kubeconfig of the API server (required)")
	flag.StringVar(&s.node, "hostname-override", "", "name of this node's Node object (required)")
	flag.StringVar(&s.serviceCIDR, "service-cluster-ip-range", "", "the Service CIDR (required)")
	flag.StringVar(&s.nodePorts, "node-port-range", "30000-32767", "the NodePort range")
	flag.DurationVar(&s.syncPeriod, "sync-period", 5*time.Minute,
		"full resync of the filter table besides the one each change triggers")
	flag.BoolVar(&s.proxyFirst, "kube-proxy-first", false,
		"run kube-proxy's KUBE-SERVICES before the policies' ACCEPT (k3s's order)")
	flag.BoolVar(&s.showVersion, "version", false, "print the version and exit")
	flag.Parse()
	return s
}

// upstreamVersion is the kube-router module this binary links, from its build info.
func upstreamVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == upstream {
				return dep.Version
			}
		}
	}
	return "unknown"
}

// routerConfig is the subset of kube-router's options the netpol controller
// reads, with routing and the service proxy off (firewall-only mode).
func routerConfig(s settings) *options.KubeRouterConfig {
	c := options.NewKubeRouterConfig()
	c.ClusterIPCIDRs = []string{s.serviceCIDR}
	c.NodePortRange = s.nodePorts
	c.HostnameOverride = s.node
	c.EnableIPv4 = true
	c.EnableIPv6 = false
	c.IPTablesSyncPeriod = s.syncPeriod
	c.MetricsEnabled = false
	c.RunFirewall = true
	c.RunRouter = false
	c.RunServiceProxy = false
	c.RunLoadBalancer = false
	return c
}

func check(s settings) error {
	for name, value := range map[string]string{
		"--kubeconfig":               s.kubeconfig,
		"--hostname-override":        s.node,
		"--service-cluster-ip-range": s.serviceCIDR,
	} {
		if value == "" {
			return fmt.Errorf("%s is required", name)
		}
	}
	// The controller keeps its peer sets in ipsets: without the ipset
	// command (Debian's ipset) it cannot enforce anything, so say so now.
	set, err := utils.NewIPSet(false)
	if err != nil {
		return fmt.Errorf("ipset unavailable (install Debian's ipset): %w", err)
	}
	if err := set.Save(); err != nil {
		return fmt.Errorf("ipset save failed: %w", err)
	}
	return nil
}

const (
	forwardChain       = "KUBE-ROUTER-FORWARD" // kube-router's, first in FORWARD
	proxyServicesChain = "KUBE-SERVICES"       // kube-proxy's, in the filter table
	proxyWait          = 60 * time.Second
	// How often the jump is checked (and put back if anything removed it).
	proxyRecheck = 10 * time.Second
)

// proxyFirstRule is the jump that puts kube-proxy's service rules before the
// policies' ACCEPT (see the package comment).
var proxyFirstRule = []string{
	"-m", "comment", "--comment", "kube-proxy service rules first, as k3s orders them",
	"-m", "conntrack", "--ctstate", "NEW", "-j", proxyServicesChain,
}

// putKubeProxyFirst writes proxyFirstRule once kube-proxy has made its chain.
func putKubeProxyFirst(ipt utils.IPTablesHandler) error {
	deadline := time.Now().Add(proxyWait)
	for {
		found, err := ipt.ChainExists("filter", proxyServicesChain)
		if err != nil {
			return err
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-proxy made no %s chain within %s", proxyServicesChain, proxyWait)
		}
		time.Sleep(time.Second)
	}
	if found, err := ipt.ChainExists("filter", forwardChain); err != nil {
		return err
	} else if !found {
		if err := ipt.NewChain("filter", forwardChain); err != nil {
			return err
		}
	}
	if found, err := ipt.Exists("filter", forwardChain, proxyFirstRule...); err != nil || found {
		return err
	}
	return ipt.Insert("filter", forwardChain, 1, proxyFirstRule...)
}

// keepKubeProxyFirst puts the jump back whenever it is missing, and says so.
func keepKubeProxyFirst(ipt utils.IPTablesHandler, stop <-chan struct{}) {
	t := time.NewTicker(proxyRecheck)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		found, err := ipt.Exists("filter", forwardChain, proxyFirstRule...)
		if err == nil && !found {
			klog.Warningf("--kube-proxy-first: the jump to %s was gone from %s; putting it back",
				proxyServicesChain, forwardChain)
			err = ipt.Insert("filter", forwardChain, 1, proxyFirstRule...)
		}
		if err != nil {
			klog.Errorf("--kube-proxy-first: %v", err)
		}
	}
}

// drain consumes the controller's heartbeats; nothing else reads them here.
func drain(beats <-chan *healthcheck.ControllerHeartbeat, stop <-chan struct{}) {
	for {
		select {
		case <-beats:
		case <-stop:
			return
		}
	}
}

func run(s settings) error {
	restConfig, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", s.kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods().Informer()
	namespaces := factory.Core().V1().Namespaces().Informer()
	policies := factory.Networking().V1().NetworkPolicies().Informer()
	factory.Start(stop)
	for informer, synced := range factory.WaitForCacheSync(stop) {
		if !synced {
			return fmt.Errorf("informer %v did not sync", informer)
		}
	}

	config := routerConfig(s)
	iptablesHandlers, ipsetHandlers, err := netpol.NewIPTablesHandlers(config)
	if err != nil {
		return err
	}
	if s.proxyFirst {
		ipt := iptablesHandlers[v1core.IPv4Protocol]
		if err := putKubeProxyFirst(ipt); err != nil {
			return fmt.Errorf("--kube-proxy-first: %w", err)
		}
		klog.Infof("--kube-proxy-first: %s jumps to %s first", forwardChain, proxyServicesChain)
		go keepKubeProxyFirst(ipt, stop)
	}
	controller, err := netpol.NewNetworkPolicyController(client, config, pods, policies, namespaces,
		&sync.Mutex{}, iptablesHandlers, ipsetHandlers)
	if err != nil {
		return fmt.Errorf("network policy controller: %w", err)
	}
	for informer, handler := range map[cache.SharedIndexInformer]cache.ResourceEventHandler{
		pods:       controller.PodEventHandler,
		namespaces: controller.NamespaceEventHandler,
		policies:   controller.NetworkPolicyEventHandler,
	} {
		if _, err := informer.AddEventHandler(handler); err != nil {
			return err
		}
	}

	beats := make(chan *healthcheck.ControllerHeartbeat)
	go drain(beats, stop)
	var wg sync.WaitGroup
	wg.Add(1)
	go controller.Run(beats, stop, &wg)
	klog.Infof("kube-router-netpol %s (kube-router %s): enforcing NetworkPolicies for node %s",
		version, upstreamVersion(), s.node)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopGrace):
	}
	return nil
}

func main() {
	s := parseFlags()
	if s.showVersion {
		fmt.Printf("kube-router-netpol %s (kube-router %s)\n", version, upstreamVersion())
		return
	}
	if err := check(s); err != nil {
		fmt.Fprintf(os.Stderr, "kube-router-netpol: %v\n", err)
		os.Exit(2)
	}
	if err := run(s); err != nil {
		fmt.Fprintf(os.Stderr, "kube-router-netpol: %v\n", err)
		os.Exit(1)
	}
}
