package volume

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestHostPathTypes(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "dir")
	regular := filepath.Join(base, "file")
	sock := filepath.Join(base, "s.sock")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(regular, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	cases := []struct {
		name    string
		path    string
		typ     corev1.HostPathType
		wantErr string
		created fs.FileMode // fs.ModeDir or 0 for a regular file, when created
	}{
		{name: "unset missing is fine", path: filepath.Join(base, "nothing"), typ: corev1.HostPathUnset},
		{name: "directory", path: dir, typ: corev1.HostPathDirectory},
		{name: "directory is a file", path: regular, typ: corev1.HostPathDirectory, wantErr: "is not a directory"},
		{name: "directory missing", path: filepath.Join(base, "none"), typ: corev1.HostPathDirectory, wantErr: "is not a directory"},
		{name: "directory or create", path: filepath.Join(base, "new/deep"), typ: corev1.HostPathDirectoryOrCreate, created: fs.ModeDir},
		{name: "directory or create on a file", path: regular, typ: corev1.HostPathDirectoryOrCreate, wantErr: "is not a directory"},
		{name: "file", path: regular, typ: corev1.HostPathFile},
		{name: "file is a directory", path: dir, typ: corev1.HostPathFile, wantErr: "is not a file"},
		{name: "file or create", path: filepath.Join(base, "newfile"), typ: corev1.HostPathFileOrCreate, created: 1},
		{name: "file or create on a directory", path: dir, typ: corev1.HostPathFileOrCreate, wantErr: "is not a file"},
		{name: "socket", path: sock, typ: corev1.HostPathSocket},
		{name: "socket is a file", path: regular, typ: corev1.HostPathSocket, wantErr: "is not a socket file"},
		{name: "char device", path: "/dev/null", typ: corev1.HostPathCharDev},
		{name: "block device is not a char device", path: "/dev/null", typ: corev1.HostPathBlockDev, wantErr: "is not a block device"},
		{name: "relative path", path: "rel", typ: corev1.HostPathUnset, wantErr: "is not absolute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			pod := podWith(corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: tc.path, Type: ptr(tc.typ)}}})
			err := f.m.Setup(context.Background(), pod)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Setup error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			if tc.created != 0 {
				fi, err := os.Stat(tc.path)
				if err != nil {
					t.Fatalf("not created: %v", err)
				}
				if fi.IsDir() != (tc.created == fs.ModeDir) {
					t.Errorf("created %v, want dir=%v", fi.Mode(), tc.created == fs.ModeDir)
				}
			}
			mounts, err := f.m.Mounts(pod, &corev1.Container{Name: "app", VolumeMounts: []corev1.VolumeMount{
				{Name: "host", MountPath: "/host"}}})
			if err != nil {
				t.Fatal(err)
			}
			if want := (Mount{HostPath: tc.path, ContainerPath: "/host"}); mounts[0] != want {
				t.Errorf("Mounts = %+v, want %+v", mounts[0], want)
			}
		})
	}
}

func TestMounts(t *testing.T) {
	f := newFixture(t, configMap("site", map[string]string{"index.html": "hi", "app.conf": "port=80"}))
	outside := t.TempDir()
	pod := podWith(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		cmVolume("cfg", "site", nil, nil, nil),
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: outside}}},
		corev1.Volume{Name: "claim", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
	)
	ctx := context.Background()
	if err := f.m.Setup(ctx, pod); err == nil || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Setup = %v, want the claim unsupported", err)
	}
	scratch := f.dir(pod, "scratch")
	if fi, err := os.Stat(scratch); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("emptyDir %s: %v, %v; want mode 0777", scratch, fi, err)
	}
	if err := os.Symlink(outside, filepath.Join(scratch, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inner", filepath.Join(scratch, "alias")); err != nil {
		t.Fatal(err)
	}
	realCfg, err := filepath.EvalSymlinks(filepath.Join(f.dir(pod, "cfg"), "app.conf"))
	if err != nil {
		t.Fatal(err)
	}
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "SUB", Value: "logs/$(POD_NAME)"},
	}

	cases := []struct {
		name    string
		mount   corev1.VolumeMount
		want    Mount
		wantErr string
		is      error
	}{
		{name: "emptyDir read-write", mount: corev1.VolumeMount{Name: "scratch", MountPath: "/data"},
			want: Mount{HostPath: scratch, ContainerPath: "/data"}},
		{name: "readOnly honoured", mount: corev1.VolumeMount{Name: "scratch", MountPath: "/data", ReadOnly: true},
			want: Mount{HostPath: scratch, ContainerPath: "/data", ReadOnly: true}},
		{name: "configMap always read-only", mount: corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app"},
			want: Mount{HostPath: f.dir(pod, "cfg"), ContainerPath: "/etc/app", ReadOnly: true}},
		{name: "configMap key by subPath", mount: corev1.VolumeMount{Name: "cfg", MountPath: "/etc/app.conf", SubPath: "app.conf"},
			want: Mount{HostPath: realCfg, ContainerPath: "/etc/app.conf", ReadOnly: true}},
		{name: "subPath created in emptyDir", mount: corev1.VolumeMount{Name: "scratch", MountPath: "/cache", SubPath: "inner/cache"},
			want: Mount{HostPath: filepath.Join(scratch, "inner/cache"), ContainerPath: "/cache"}},
		{name: "subPath through a symlink inside", mount: corev1.VolumeMount{Name: "scratch", MountPath: "/c", SubPath: "alias/cache"},
			want: Mount{HostPath: filepath.Join(scratch, "inner/cache"), ContainerPath: "/c"}},
		{name: "subPathExpr from env", mount: corev1.VolumeMount{Name: "scratch", MountPath: "/logs", SubPathExpr: "$(SUB)"},
			want: Mount{HostPath: filepath.Join(scratch, "logs/web-1"), ContainerPath: "/logs"}},
		{name: "hostPath", mount: corev1.VolumeMount{Name: "host", MountPath: "/h"},
			want: Mount{HostPath: outside, ContainerPath: "/h"}},
		{name: "subPath dot-dot refused", mount: corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "a/../../etc"},
			wantErr: "must not contain '..'"},
		{name: "subPathExpr dot-dot refused", mount: corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPathExpr: "$(NOPE)/.."},
			wantErr: "must not contain '..'"},
		{name: "absolute subPath refused", mount: corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "/etc"},
			wantErr: "must be relative"},
		{name: "symlink escape refused", mount: corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "escape"},
			wantErr: "leads outside the volume"},
		{name: "symlink escape deeper refused", mount: corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "escape/sub"},
			wantErr: "leads outside the volume"},
		{name: "missing key subPath in configMap", mount: corev1.VolumeMount{Name: "cfg", MountPath: "/x", SubPath: "nope"},
			wantErr: "does not exist"},
		{name: "volume the pod lacks", mount: corev1.VolumeMount{Name: "ghost", MountPath: "/x"},
			wantErr: `mount volume "ghost" in container app of pod demo/web-1: the pod has no such volume`},
		{name: "unsupported volume", mount: corev1.VolumeMount{Name: "claim", MountPath: "/x"},
			wantErr: "persistentVolumeClaim volumes are not supported", is: ErrUnsupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &corev1.Container{Name: "app", Env: env, VolumeMounts: []corev1.VolumeMount{tc.mount}}
			got, err := f.m.Mounts(pod, c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Mounts = %+v, %v; want error %q", got, err, tc.wantErr)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error does not wrap %v", tc.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("Mounts: %v", err)
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("Mounts = %+v, want %+v", got, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("something was created outside the volume: %v", entries)
	}

	t.Run("MountsWithEnv uses the given environment", func(t *testing.T) {
		c := &corev1.Container{Name: "app", VolumeMounts: []corev1.VolumeMount{
			{Name: "scratch", MountPath: "/x", SubPathExpr: "by-node/$(NODE)"}}}
		got, err := f.m.MountsWithEnv(pod, c, []string{"NODE=node-a"})
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(scratch, "by-node/node-a"); got[0].HostPath != want {
			t.Errorf("HostPath = %s, want %s", got[0].HostPath, want)
		}
	})
}

func TestCleanupAndPods(t *testing.T) {
	f := newFixture(t, configMap("site", map[string]string{"a": "1"}))
	ctx := context.Background()
	pods := []*corev1.Pod{podWith(cmVolume("cfg", "site", nil, nil, nil)), podWith(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})}
	pods[1].UID = "second-uid"
	for _, p := range pods {
		if err := f.m.Setup(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	uids, err := f.m.Pods()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(uids)
	if want := []types.UID{"0f6a-uid", "second-uid"}; !slices.Equal(uids, want) {
		t.Errorf("Pods = %v, want %v", uids, want)
	}
	for range 2 { // idempotent
		if err := f.m.Cleanup(ctx, "0f6a-uid"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.root, "0f6a-uid")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pod directory still there: %v", err)
	}
	if uids, _ := f.m.Pods(); !slices.Equal(uids, []types.UID{"second-uid"}) {
		t.Errorf("Pods after cleanup = %v", uids)
	}
	if err := f.m.Cleanup(ctx, "../escape"); err == nil {
		t.Error("Cleanup accepted a UID with a slash")
	}
}

func TestTmpfsEmptyDir(t *testing.T) {
	needMountNS(t)
	f := newFixture(t)
	pod := podWith(corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("8Mi"))}}})
	ctx := context.Background()
	dir := f.dir(pod, "mem")
	t.Cleanup(func() { unmount(dir) })
	for range 2 { // a second sync must not stack another tmpfs
		if err := f.m.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	mounts, err := mountsUnder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || mounts[0] != dir {
		t.Fatalf("mounts under %s = %v, want exactly the volume", dir, mounts)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmpfs root: %v, %v; want mode 0777", fi, err)
	}
	// The size limit holds: writing 9 MiB fails.
	big := make([]byte, 9<<20)
	if err := os.WriteFile(filepath.Join(dir, "big"), big, 0o644); err == nil {
		t.Error("wrote 9MiB to an 8Mi tmpfs")
	}
	if err := f.m.Cleanup(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := mountsUnder(dir); len(mounts) != 0 {
		t.Errorf("still mounted after Cleanup: %v", mounts)
	}
	if _, err := os.Stat(filepath.Join(f.root, string(pod.UID))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pod directory still there: %v", err)
	}
}

func TestSecretsInMemory(t *testing.T) {
	needMountNS(t)
	f := newFixture(t,
		configMap("site", map[string]string{"a": "1"}),
		configMap("kube-root-ca.crt", map[string]string{"ca.crt": "CA"}),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "demo"}, Data: map[string][]byte{"pass": []byte("x")}})
	pod := podWith(
		cmVolume("cfg", "site", nil, nil, nil),
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		kubeAPIAccess(nil, ""),
	)
	ctx := context.Background()
	for range 2 {
		if err := f.m.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		volume  string
		mounted bool
	}{
		{"cfg", false},
		{"sec", true},
		{"kube-api-access-x7k2p", true},
	}
	for _, tc := range cases {
		t.Run(tc.volume, func(t *testing.T) {
			dir := f.dir(pod, tc.volume)
			mounts, err := mountsUnder(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Equal(mounts, []string{dir}); got != tc.mounted {
				t.Errorf("mounts under %s = %v, want a tmpfs: %v", dir, mounts, tc.mounted)
			}
		})
	}
	if got := readFile(t, filepath.Join(f.dir(pod, "sec"), "pass")); got != "x" {
		t.Errorf("secret file = %q", got)
	}
	if err := f.m.Cleanup(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := mountsUnder(f.root); len(mounts) != 0 {
		t.Errorf("still mounted after Cleanup: %v", mounts)
	}
}
