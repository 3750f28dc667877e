package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
)

// OCIImage maps image references (a path.Match pattern) to a reference name
// in the node's OCI layout: the image a pod asking for any tag of it runs.
type OCIImage struct {
	Pattern string `json:"pattern"`
	Ref     string `json:"ref"`
}

// ociImage is one image of the node's OCI layout, resolved for a pod.
type ociImage struct {
	ref      string // the reference name in the layout
	manifest string // its manifest digest (sha256:...)
	config   imgspec.Image
}

// imageStore reads the node's OCI layout and unpacks each manifest once
// into the node's cache (umoci), shared read-only by every container of it.
type imageStore struct {
	layout string
	cache  string
	umoci  string
	rows   []OCIImage
	mu     sync.Mutex
	locks  map[string]*sync.Mutex
}

func newImageStore(cfg *Config) *imageStore {
	if cfg.OCILayout == "" {
		return nil
	}
	return &imageStore{
		layout: cfg.OCILayout, cache: cfg.ImageCache, umoci: cfg.Umoci,
		rows: cfg.OCIImages, locks: map[string]*sync.Mutex{},
	}
}

// lookup resolves an image reference: a reference name of the layout as
// such (an image imported under its own name), else the first matching row.
// nil and no error: not an image of the store (the program table may have it).
func (s *imageStore) lookup(ref string) (*ociImage, error) {
	if s == nil {
		return nil, nil
	}
	index, err := s.index()
	if err != nil {
		return nil, err
	}
	name := ref
	if _, ok := index[name]; !ok {
		name = ""
		for _, row := range s.rows {
			if ok, _ := path.Match(row.Pattern, ref); ok {
				name = row.Ref
				break
			}
		}
	}
	if name == "" {
		return nil, nil
	}
	desc, ok := index[name]
	if !ok {
		return nil, fmt.Errorf("image %q (as %q) is not in the node's image store %s", ref, name, s.layout)
	}
	var manifest imgspec.Manifest
	if err := s.blob(desc.Digest.String(), &manifest); err != nil {
		return nil, err
	}
	img := &ociImage{ref: name, manifest: desc.Digest.String()}
	if err := s.blob(manifest.Config.Digest.String(), &img.config); err != nil {
		return nil, err
	}
	return img, nil
}

// index maps the layout's reference names to their manifests.
func (s *imageStore) index() (map[string]imgspec.Descriptor, error) {
	var idx imgspec.Index
	data, err := os.ReadFile(filepath.Join(s.layout, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("node image store: %w", err)
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("node image store %s/index.json: %w", s.layout, err)
	}
	out := map[string]imgspec.Descriptor{}
	for _, m := range idx.Manifests {
		if name := m.Annotations[imgspec.AnnotationRefName]; name != "" {
			out[name] = m
		}
	}
	return out, nil
}

func (s *imageStore) blob(digest string, into any) error {
	algo, hex, ok := strings.Cut(digest, ":")
	if !ok {
		return fmt.Errorf("bad digest %q", digest)
	}
	data, err := os.ReadFile(filepath.Join(s.layout, "blobs", algo, hex))
	if err != nil {
		return fmt.Errorf("node image store: %w", err)
	}
	return json.Unmarshal(data, into)
}

// rootfs is the image's unpacked root filesystem, unpacked on first use:
// <cache>/<manifest digest>/rootfs, never written to afterwards.
func (s *imageStore) rootfs(img *ociImage) (string, error) {
	dir := filepath.Join(s.cache, strings.ReplaceAll(img.manifest, ":", "-"))
	s.mu.Lock()
	lock, ok := s.locks[dir]
	if !ok {
		lock = &sync.Mutex{}
		s.locks[dir] = lock
	}
	s.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	root := filepath.Join(dir, "rootfs")
	if _, err := os.Stat(root); err == nil {
		return root, nil
	}
	if err := os.MkdirAll(s.cache, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(s.cache, ".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bundle := filepath.Join(tmp, "bundle")
	// umoci refuses a reference name it did not check out by digest: name the
	// manifest by its reference, then check the result is the manifest asked for.
	out, err := exec.Command(s.umoci, "unpack", "--image", s.layout+":"+img.ref, bundle).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("umoci unpack %s: %v: %s", img.ref, err, strings.TrimSpace(string(out)))
	}
	if _, err := os.Stat(filepath.Join(bundle, "sha256_"+strings.TrimPrefix(img.manifest, "sha256:")+".mtree")); err != nil {
		return "", fmt.Errorf("umoci unpack %s: the reference moved while unpacking (want %s)", img.ref, img.manifest)
	}
	if err := os.Rename(bundle, dir); err != nil {
		return "", err
	}
	return root, nil
}
