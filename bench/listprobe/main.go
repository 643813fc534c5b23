// Command listprobe splits the time of a full LIST, as client-go sees it,
// into the server's part and the client's: it creates pods shaped like
// apiload's, then times, over several rounds, a client-go List, the same
// GET read as bytes, and client-go's decoding of those bytes.
//
//	go run ./bench/listprobe --kubeconfig D/admin.kubeconfig [--pods 2000] [--rounds 20]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the server")
	ns := flag.String("namespace", "listprobe", "namespace to fill (created if missing)")
	pods := flag.Int("pods", 2000, "pods to list")
	rounds := flag.Int("rounds", 20, "timed rounds")
	flag.Parse()
	if err := run(context.Background(), *kubeconfig, *ns, *pods, *rounds); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, kubeconfig, ns string, pods, rounds int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS = -1
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !isExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	for i := 0; i < pods; i++ {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%05d", i), Labels: map[string]string{"app": "apiload"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.local/pause:3.9",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}}}}},
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil && !isExists(err) {
			return fmt.Errorf("create pod %s: %w", p.Name, err)
		}
	}
	defer func() {
		_ = cs.CoreV1().Pods(ns).DeleteCollection(context.WithoutCancel(ctx), *metav1.NewDeleteOptions(0), metav1.ListOptions{})
	}()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	var list, raw, decode []time.Duration
	size := 0
	for i := 0; i < rounds; i++ {
		t := time.Now()
		if _, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
			return fmt.Errorf("list: %w", err)
		}
		list = append(list, time.Since(t))

		t = time.Now()
		body, err := get(ctx, hc, cfg.Host+"/api/v1/namespaces/"+ns+"/pods")
		if err != nil {
			return err
		}
		raw = append(raw, time.Since(t))
		size = len(body)

		t = time.Now()
		var pl corev1.PodList
		if err := runtime.DecodeInto(scheme.Codecs.UniversalDecoder(), body, &pl); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		decode = append(decode, time.Since(t))
	}
	fmt.Printf("{\"pods\":%d,\"bytes\":%d,\"list_p50_ms\":%.1f,\"bytes_only_p50_ms\":%.1f,\"client_decode_p50_ms\":%.1f}\n",
		pods, size, ms(median(list)), ms(median(raw)), ms(median(decode)))
	return nil
}

func get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d, %v", url, resp.StatusCode, err)
	}
	return body, nil
}

func isExists(err error) bool { return apierrors.IsAlreadyExists(err) }

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
