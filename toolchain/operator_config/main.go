// operator-config prints the Prometheus configuration prometheus-operator's own
// generator writes for the PodMonitors found in the given manifest files, for a
// Prometheus of the given version. The tests run Prometheus on it to show that
// the labels the stack's rules and dashboards use come out of the operator's
// relabeling, not of a copy of it.
//
// Usage: operator-config [-prometheus-version v3.7.3] [-scrape-interval 15s] FILE...
// Exit status: 0 printed, 1 the generator failed, 2 bad usage or input.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus-operator/prometheus-operator/pkg/assets"
	"github.com/prometheus-operator/prometheus-operator/pkg/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// version is set by the toolchain build (-ldflags -X).
var version = "dev"

// podMonitors reads every PodMonitor of a multi-document YAML file.
func podMonitors(path string, into map[string]*monitoringv1.PodMonitor) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, doc := range bytes.Split(raw, []byte("\n---")) {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if head.Kind != monitoringv1.PodMonitorsKind {
			continue
		}
		var monitor monitoringv1.PodMonitor
		if err := yaml.UnmarshalStrict(doc, &monitor); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		into[monitor.Namespace+"/"+monitor.Name] = &monitor
	}
	return nil
}

func main() {
	promVersion := flag.String("prometheus-version", "v3.7.3", "the Prometheus version to generate for")
	interval := flag.String("scrape-interval", "15s", "the Prometheus' scrape interval")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Printf("operator-config %s\n", version)
		return
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: operator-config [flags] FILE...")
		os.Exit(2)
	}
	monitors := map[string]*monitoringv1.PodMonitor{}
	for _, path := range flag.Args() {
		if err := podMonitors(path, monitors); err != nil {
			fmt.Fprintf(os.Stderr, "operator-config: %v\n", err)
			os.Exit(2)
		}
	}
	prom := &monitoringv1.Prometheus{
		ObjectMeta: metav1.ObjectMeta{Name: "operator-config", Namespace: "monitoring"},
		Spec: monitoringv1.PrometheusSpec{
			CommonPrometheusFields: monitoringv1.CommonPrometheusFields{
				Version:        *promVersion,
				ScrapeInterval: monitoringv1.Duration(*interval),
			},
			EvaluationInterval: monitoringv1.Duration(*interval),
		},
	}
	generator, err := prometheus.NewConfigGenerator(nil, prom)
	if err == nil {
		var out []byte
		out, err = generator.GenerateServerConfiguration(
			prom, nil, monitors, nil, nil, assets.NewTestStoreBuilder(), nil, nil, nil, nil)
		if err == nil {
			os.Stdout.Write(out)
			return
		}
	}
	fmt.Fprintf(os.Stderr, "operator-config: %v\n", err)
	os.Exit(1)
}
