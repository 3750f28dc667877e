package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// materializeVolumes writes every volume of the pod into podDir/volumes/<name>
// and returns name -> host directory.
func materializeVolumes(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, podDir string) (map[string]string, error) {
	dirs := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(podDir, "volumes", v.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		files, err := volumeFiles(ctx, c, pod, v)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if v.EmptyDir != nil {
			// World-writable like the real kubelet's emptyDir.
			if err := os.Chmod(dir, 0o777); err != nil {
				return nil, err
			}
		}
		if err := writeFiles(dir, files); err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		dirs[v.Name] = dir
	}
	return dirs, nil
}

type file struct {
	data []byte
	mode os.FileMode
}

func mode(m *int32, def os.FileMode) os.FileMode {
	if m != nil {
		return os.FileMode(*m)
	}
	return def
}

func volumeFiles(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, v corev1.Volume) (map[string]file, error) {
	switch {
	case v.EmptyDir != nil:
		return nil, nil
	case v.ConfigMap != nil:
		return configMapFiles(ctx, c, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, mode(v.ConfigMap.DefaultMode, 0o644))
	case v.Secret != nil:
		return secretFiles(ctx, c, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, mode(v.Secret.DefaultMode, 0o644))
	case v.Projected != nil:
		return projectedFiles(ctx, c, pod, v.Projected)
	case v.DownwardAPI != nil:
		return downwardFiles(pod, v.DownwardAPI.Items, mode(v.DownwardAPI.DefaultMode, 0o644))
	}
	return nil, fmt.Errorf("volume type not supported by this node (only emptyDir, configMap, secret, projected, downwardAPI)")
}

func selectKeys(data map[string][]byte, items []corev1.KeyToPath, def os.FileMode) (map[string]file, error) {
	out := map[string]file{}
	if len(items) == 0 {
		for k, d := range data {
			out[k] = file{d, def}
		}
		return out, nil
	}
	for _, it := range items {
		d, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("key %q not found", it.Key)
		}
		out[it.Path] = file{d, mode(it.Mode, def)}
	}
	return out, nil
}

func configMapFiles(ctx context.Context, c kubernetes.Interface, ns, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode) (map[string]file, error) {
	cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional != nil && *optional {
			return nil, nil
		}
		return nil, fmt.Errorf("configMap %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, s := range cm.Data {
		data[k] = []byte(s)
	}
	for k, b := range cm.BinaryData {
		data[k] = b
	}
	return selectKeys(data, items, def)
}

func secretFiles(ctx context.Context, c kubernetes.Interface, ns, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode) (map[string]file, error) {
	s, err := c.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional != nil && *optional {
			return nil, nil
		}
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return selectKeys(s.Data, items, def)
}

func projectedFiles(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, p *corev1.ProjectedVolumeSource) (map[string]file, error) {
	def := mode(p.DefaultMode, 0o644)
	out := map[string]file{}
	for _, src := range p.Sources {
		var part map[string]file
		var err error
		switch {
		case src.ConfigMap != nil:
			part, err = configMapFiles(ctx, c, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, def)
		case src.Secret != nil:
			part, err = secretFiles(ctx, c, pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional, def)
		case src.DownwardAPI != nil:
			part, err = downwardFiles(pod, src.DownwardAPI.Items, def)
		case src.ServiceAccountToken != nil:
			part, err = tokenFile(ctx, c, pod, src.ServiceAccountToken, def)
		default:
			err = fmt.Errorf("projected source not supported")
		}
		if err != nil {
			return nil, err
		}
		for k, f := range part {
			out[k] = f
		}
	}
	return out, nil
}

// tokenFile asks the API server for a token bound to this pod (TokenRequest),
// as the kubelet does for the projected service-account volume.
func tokenFile(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection, def os.FileMode) (map[string]file, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tr, err := c.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for service account %s: %w", sa, err)
	}
	return map[string]file{src.Path: {[]byte(tr.Status.Token), def}}, nil
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def os.FileMode) (map[string]file, error) {
	out := map[string]file{}
	for _, it := range items {
		if it.FieldRef == nil {
			continue // resourceFieldRef: not supported, left out
		}
		val, err := fieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, err
		}
		out[it.Path] = file{[]byte(val), mode(it.Mode, def)}
	}
	return out, nil
}

func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	}
	return "", fmt.Errorf("fieldRef %q not supported", path)
}

func formatMap(m map[string]string) string {
	var b strings.Builder
	for k, v := range m {
		fmt.Fprintf(&b, "%s=%q\n", k, v)
	}
	return b.String()
}

func writeFiles(dir string, files map[string]file) error {
	for rel, f := range files {
		p := filepath.Join(dir, filepath.Clean("/"+rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, f.mode.Perm()); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode.Perm()); err != nil {
			return err
		}
	}
	return nil
}
