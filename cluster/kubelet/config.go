package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
)

// Config is written by `python -m cluster up` (cluster/kubelet_config.py):
// one JSON file, so the image table stays in one Python module.
type Config struct {
	NodeName      string          `json:"nodeName"`
	NodeIP        string          `json:"nodeIP"`
	Kubeconfig    string          `json:"kubeconfig"`
	RunDir        string          `json:"runDir"`
	CNIBinDir     string          `json:"cniBinDir"`
	CNIConfList   json.RawMessage `json:"cniConfList"`
	DNSServer     string          `json:"dnsServer"`
	ClusterDomain string          `json:"clusterDomain"`
	ListenAddr    string          `json:"listenAddr"`
	TLSCert       string          `json:"tlsCert"`
	TLSKey        string          `json:"tlsKey"`
	// MountpointLog records the mount targets the kubelet had to create on
	// the host filesystem, so `down` removes them again.
	MountpointLog string `json:"mountpointLog"`
	// StopLog receives a StopRecord line for each container of a deleted pod.
	StopLog string `json:"stopLog"`
	// ProgramRoots are the host directories the local programs live in (the
	// project, its virtualenv, the toolchain). A pod volume mounted on an
	// ancestor (an emptyDir on /tmp) would hide them: the helper binds each
	// back on itself inside the volume.
	ProgramRoots []string `json:"programRoots"`
	Images       []Image  `json:"images"`
	// Image containers (runc.go): the node's OCI layout, the cache the images
	// are unpacked into, the programs, and which references run which image.
	OCILayout    string     `json:"ociLayout,omitempty"`
	ImageCache   string     `json:"imageCache,omitempty"`
	Runc         string     `json:"runc,omitempty"`
	Umoci        string     `json:"umoci,omitempty"`
	OCIImages    []OCIImage `json:"ociImages,omitempty"`
	PodPidsLimit int64      `json:"podPidsLimit,omitempty"` // as the kubelet's --pod-max-pids
}

// Image maps an image reference pattern to a local program.
type Image struct {
	Pattern    string            `json:"pattern"`
	Entrypoint []string          `json:"entrypoint"`
	Cmd        []string          `json:"cmd"`
	WorkingDir string            `json:"workingDir"`
	Path       []string          `json:"path"`
	Env        map[string]string `json:"env"`
	// Aliases resolve the image's own file names (./loadtester, /bin/prometheus,
	// python) to the local programs.
	Aliases map[string]string `json:"aliases"`
}

func loadConfig(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if c.NodeName == "" || c.RunDir == "" || c.Kubeconfig == "" {
		return nil, fmt.Errorf("%s: nodeName, runDir and kubeconfig are required", file)
	}
	return &c, nil
}

// lookupImage returns the table entry for an image reference, or nil.
func (c *Config) lookupImage(ref string) *Image {
	for i := range c.Images {
		if ok, _ := path.Match(c.Images[i].Pattern, ref); ok {
			return &c.Images[i]
		}
	}
	return nil
}
