package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/node/envvar"
)

// defaultMode is the API's default for configMap, secret, downwardAPI and
// projected volumes.
const defaultMode = 0o644

// payload computes the files of a configMap, secret, downwardAPI or
// projected volume.
func (m *Manager) payload(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (map[string]file, error) {
	out := map[string]file{}
	switch {
	case v.ConfigMap != nil:
		src := v.ConfigMap
		err := m.addConfigMap(ctx, pod, src.Name, src.Items, modeOf(src.DefaultMode), isTrue(src.Optional), out)
		return out, err
	case v.Secret != nil:
		src := v.Secret
		err := m.addSecret(ctx, pod, src.SecretName, src.Items, modeOf(src.DefaultMode), isTrue(src.Optional), out)
		return out, err
	case v.DownwardAPI != nil:
		err := m.addDownwardAPI(pod, v.DownwardAPI.Items, modeOf(v.DownwardAPI.DefaultMode), out)
		return out, err
	case v.Projected != nil:
		mode := modeOf(v.Projected.DefaultMode)
		for _, s := range v.Projected.Sources {
			var err error
			switch {
			case s.ConfigMap != nil:
				err = m.addConfigMap(ctx, pod, s.ConfigMap.Name, s.ConfigMap.Items, mode, isTrue(s.ConfigMap.Optional), out)
			case s.Secret != nil:
				err = m.addSecret(ctx, pod, s.Secret.Name, s.Secret.Items, mode, isTrue(s.Secret.Optional), out)
			case s.DownwardAPI != nil:
				err = m.addDownwardAPI(pod, s.DownwardAPI.Items, mode, out)
			case s.ServiceAccountToken != nil:
				var tok string
				tok, err = m.token(ctx, pod, s.ServiceAccountToken)
				if err == nil {
					out[filepath.Clean(s.ServiceAccountToken.Path)] = file{data: []byte(tok), mode: mode}
				}
			case s.ClusterTrustBundle != nil:
				err = unsupportedf("projected clusterTrustBundle sources are not supported")
			case s.PodCertificate != nil:
				err = unsupportedf("projected podCertificate sources are not supported")
			}
			if err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, unsupportedf("%s volumes are not supported", sourceKind(v))
}

// addConfigMap adds a ConfigMap's keys (all of them, or items) to out.
func (m *Manager) addConfigMap(ctx context.Context, pod *corev1.Pod, name string, items []corev1.KeyToPath, mode fs.FileMode, optional bool, out map[string]file) error {
	cm, err := m.cfg.Client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && optional:
		return nil
	case apierrors.IsNotFound(err):
		return missingf(err, "configmap %q not found", name)
	case err != nil:
		return fmt.Errorf("get configmap %s/%s: %w", pod.Namespace, name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return addKeys("configmap", name, data, items, mode, optional, out)
}

// addSecret adds a Secret's keys (all of them, or items) to out.
func (m *Manager) addSecret(ctx context.Context, pod *corev1.Pod, name string, items []corev1.KeyToPath, mode fs.FileMode, optional bool, out map[string]file) error {
	s, err := m.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && optional:
		return nil
	case apierrors.IsNotFound(err):
		return missingf(err, "secret %q not found", name)
	case err != nil:
		return fmt.Errorf("get secret %s/%s: %w", pod.Namespace, name, err)
	}
	return addKeys("secret", name, s.Data, items, mode, optional, out)
}

// addKeys projects data's keys: all of them under their own names, or the
// items, each with its path and mode.
func addKeys(kind, name string, data map[string][]byte, items []corev1.KeyToPath, mode fs.FileMode, optional bool, out map[string]file) error {
	if len(items) == 0 {
		for k, v := range data {
			out[k] = file{data: v, mode: mode}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return missingf(nil, "%s %q has no key %q", kind, name, it.Key)
		}
		fm := mode
		if it.Mode != nil {
			fm = modeOf(it.Mode)
		}
		out[filepath.Clean(it.Path)] = file{data: v, mode: fm}
	}
	return nil
}

// addDownwardAPI adds the downward API items to out.
func (m *Manager) addDownwardAPI(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, mode fs.FileMode, out map[string]file) error {
	var errs []error
	for _, it := range items {
		var (
			v   string
			err error
		)
		switch {
		case it.FieldRef != nil:
			v, err = envvar.FieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			c := envvar.ContainerByName(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				err = fmt.Errorf("no container %q in pod", it.ResourceFieldRef.ContainerName)
				break
			}
			v, err = envvar.ResourceValue(c, it.ResourceFieldRef, m.cfg.NodeAllocatable)
		default:
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("downward API file %s: %w", it.Path, err))
			continue
		}
		fm := mode
		if it.Mode != nil {
			fm = modeOf(it.Mode)
		}
		out[filepath.Clean(it.Path)] = file{data: []byte(v), mode: fm}
	}
	return errors.Join(errs...)
}

// modeOf returns a volume or item mode's permission bits, or defaultMode.
func modeOf(mode *int32) fs.FileMode {
	if mode == nil {
		return defaultMode
	}
	return fs.FileMode(*mode) & fs.ModePerm
}

func isTrue(b *bool) bool { return b != nil && *b }
