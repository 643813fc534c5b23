package testenv

import (
	"archive/tar"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestContainerdServes(t *testing.T) {
	socket := Containerd(t)
	if fi, err := os.Stat(socket); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %s: %v", socket, err)
	}
}

func TestBusyboxArchive(t *testing.T) {
	path := BusyboxArchive(t, t.TempDir(), "example.test/busybox:1")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = data
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(names["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"one image", len(manifest) == 1},
		{"tagged", len(manifest) == 1 && len(manifest[0].RepoTags) == 1 && manifest[0].RepoTags[0] == "example.test/busybox:1"},
		{"config present", len(manifest) == 1 && names[manifest[0].Config] != nil},
		{"layer present", len(manifest) == 1 && len(manifest[0].Layers) == 1 && names[manifest[0].Layers[0]] != nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Fatalf("archive %s: check failed; manifest %+v", path, manifest)
			}
		})
	}
}

func TestPushBusybox(t *testing.T) {
	reg := Registry(t)
	ref := PushBusybox(t, reg, "busybox:1")
	if ref != reg+"/busybox:1" {
		t.Fatalf("ref = %q", ref)
	}
	resp, err := http.Get("http://" + reg + "/v2/busybox/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `"1"`) {
		t.Fatalf("tags list: %s", body)
	}
}
