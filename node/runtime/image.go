package runtime

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/platforms"
	"github.com/containerd/containerd/remotes/docker"
	remoteserrors "github.com/containerd/containerd/remotes/errors"
	"github.com/distribution/reference"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImageInfo describes an image present in containerd.
type ImageInfo struct {
	// Ref is the reference as the pod spec wrote it ("busybox").
	Ref string
	// Name is the normalized reference containerd stores it under
	// ("docker.io/library/busybox:latest").
	Name string
	// ID is the image's repo digest as kubelet reports imageID:
	// "127.0.0.1:5000/busybox@sha256:<manifest digest>".
	ID string
	// Config is the image's run configuration (entrypoint, cmd, env,
	// working dir, user, stop signal).
	Config ocispec.ImageConfig
}

// Credential is one registry login, from a pod's imagePullSecrets
// (.dockerconfigjson), matched by Host.
type Credential struct {
	Host, Username, Password, Auth, IdentityToken string
}

// imageEntry is a cached ImageInfo plus what creating a container needs.
type imageEntry struct {
	info    ImageInfo
	chainID string // parent snapshot of containers of this image
}

// NormalizeImageRef turns a pod's image reference into the name containerd
// stores, as kubelet does: "busybox" → "docker.io/library/busybox:latest".
func NormalizeImageRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return named.String(), nil
}

// GetImage returns the image ref if containerd has it. Results are cached
// by image name; the cache follows the image's target digest.
func (r *Runtime) GetImage(ctx context.Context, ref string) (ImageInfo, bool, error) {
	ctx = r.ns(ctx)
	name, err := NormalizeImageRef(ref)
	if err != nil {
		return ImageInfo{}, false, err
	}
	img, err := r.client.ImageService().Get(ctx, name)
	if errdefs.IsNotFound(err) {
		return ImageInfo{}, false, nil
	}
	if err != nil {
		return ImageInfo{}, false, fmt.Errorf("get image %s: %w", ref, err)
	}
	e, err := r.imageEntry(ctx, ref, img)
	if err != nil {
		return ImageInfo{}, false, err
	}
	return e.info, true, nil
}

// imageEntry returns the cached entry of img, reading its config from
// containerd's content store on a miss.
func (r *Runtime) imageEntry(ctx context.Context, ref string, img images.Image) (imageEntry, error) {
	id := repoDigest(img.Name, img.Target.Digest.String())
	r.mu.Lock()
	e, ok := r.images[img.Name]
	r.mu.Unlock()
	if ok && e.info.ID == id {
		e.info.Ref = ref
		return e, nil
	}
	cs := r.client.ContentStore()
	desc, err := images.Config(ctx, cs, img.Target, platforms.Default())
	if err != nil {
		return imageEntry{}, fmt.Errorf("image %s: config: %w", ref, err)
	}
	blob, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return imageEntry{}, fmt.Errorf("image %s: read config: %w", ref, err)
	}
	var oci ocispec.Image
	if err := json.Unmarshal(blob, &oci); err != nil {
		return imageEntry{}, fmt.Errorf("image %s: parse config: %w", ref, err)
	}
	e = imageEntry{
		info:    ImageInfo{Ref: ref, Name: img.Name, ID: id, Config: oci.Config},
		chainID: identity.ChainID(oci.RootFS.DiffIDs).String(),
	}
	r.mu.Lock()
	r.images[img.Name] = e
	r.mu.Unlock()
	return e, nil
}

// repoDigest is "name-without-tag@digest".
func repoDigest(name, dgst string) string {
	if named, err := reference.ParseNormalizedNamed(name); err == nil {
		return reference.TrimNamed(named).String() + "@" + dgst
	}
	return name + "@" + dgst
}

// PullImage pulls ref from its registry and unpacks it for the runtime's
// snapshotter. Registries on loopback addresses are reached over plain HTTP,
// others over HTTPS; creds are matched to the registry by host. Errors wrap
// ErrImageNotFound, ErrImageUnauthorized or ErrRegistryUnavailable when they
// are one of those.
func (r *Runtime) PullImage(ctx context.Context, ref string, creds []Credential) (ImageInfo, error) {
	ctx = r.ns(ctx)
	name, err := NormalizeImageRef(ref)
	if err != nil {
		return ImageInfo{}, err
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(
			docker.WithPlainHTTP(docker.MatchLocalhost),
			docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthCreds(credentialsFor(creds)))),
		),
	})
	img, err := r.client.Pull(ctx, name,
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(r.snapshotter),
		containerd.WithPlatformMatcher(platforms.Default()))
	if err != nil {
		return ImageInfo{}, fmt.Errorf("pull image %s: %w", ref, classifyPullError(err))
	}
	e, err := r.imageEntry(ctx, ref, img.Metadata())
	if err != nil {
		return ImageInfo{}, err
	}
	r.log.Info("pulled image", "image", ref, "id", e.info.ID)
	return e.info, nil
}

// credentialsFor returns the resolver's credential callback over creds.
func credentialsFor(creds []Credential) func(string) (string, string, error) {
	return func(host string) (string, string, error) {
		for _, c := range creds {
			if !hostMatches(c.Host, host) {
				continue
			}
			if c.IdentityToken != "" {
				return "", c.IdentityToken, nil
			}
			if c.Username == "" && c.Auth != "" {
				raw, err := base64.StdEncoding.DecodeString(c.Auth)
				if err != nil {
					return "", "", fmt.Errorf("credential for %s: bad auth: %w", host, err)
				}
				user, pass, _ := strings.Cut(string(raw), ":")
				return user, pass, nil
			}
			return c.Username, c.Password, nil
		}
		return "", "", nil
	}
}

// hostMatches compares a credential's host (which may be a URL, as in
// .dockerconfigjson: "https://index.docker.io/v1/") to a registry host.
func hostMatches(credHost, host string) bool {
	h := credHost
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	h, _, _ = strings.Cut(h, "/")
	if h == "index.docker.io" || h == "docker.io" {
		h = "registry-1.docker.io"
	}
	if host == "docker.io" {
		host = "registry-1.docker.io"
	}
	return h == host
}

// classifyPullError wraps err in the sentinel it is an instance of.
func classifyPullError(err error) error {
	var status remoteserrors.ErrUnexpectedStatus
	switch {
	case errdefs.IsNotFound(err):
		return fmt.Errorf("%w: %w", ErrImageNotFound, err)
	case errors.As(err, &status):
		switch {
		case status.StatusCode == http.StatusUnauthorized || status.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: %w", ErrImageUnauthorized, err)
		case status.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %w", ErrImageNotFound, err)
		case status.StatusCode >= 500:
			return fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
		}
	case errdefs.IsUnauthorized(err) || errdefs.IsPermissionDenied(err):
		return fmt.Errorf("%w: %w", ErrImageUnauthorized, err)
	case errors.Is(err, syscall.ECONNREFUSED) || isNetError(err):
		return fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
	}
	if s := err.Error(); strings.Contains(s, "401 Unauthorized") || strings.Contains(s, "403 Forbidden") {
		return fmt.Errorf("%w: %w", ErrImageUnauthorized, err)
	}
	return err
}

func isNetError(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	return errors.As(err, &opErr) || errors.As(err, &dnsErr)
}

// ImportImages imports every *.tar in dir (docker-archive or OCI layout
// archive), as k3s does with air-gap images, and unpacks them. A missing dir
// is not an error.
func (r *Runtime) ImportImages(ctx context.Context, dir string) error {
	ctx = r.ns(ctx)
	paths, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return fmt.Errorf("import images from %s: %w", dir, err)
	}
	for _, path := range paths {
		if err := r.importArchive(ctx, path); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runtime) importArchive(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import images from %s: %w", path, err)
	}
	defer f.Close()
	ctx, done, err := r.client.WithLease(ctx)
	if err != nil {
		return fmt.Errorf("import images from %s: lease: %w", path, err)
	}
	defer done(context.WithoutCancel(ctx))
	imgs, err := r.client.Import(ctx, f, containerd.WithImportPlatform(platforms.Default()))
	if err != nil {
		return fmt.Errorf("import images from %s: %w", path, err)
	}
	for _, img := range imgs {
		if img.Name == "" {
			continue
		}
		i := containerd.NewImageWithPlatform(r.client, img, platforms.Default())
		if err := i.Unpack(ctx, r.snapshotter); err != nil {
			return fmt.Errorf("unpack image %s from %s: %w", img.Name, path, err)
		}
		r.log.Info("imported image", "image", img.Name, "archive", path)
	}
	return nil
}

// unpack makes sure the image name is unpacked for the runtime's snapshotter.
func (r *Runtime) unpack(ctx context.Context, name string) error {
	img, err := r.client.GetImage(ctx, name)
	if err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	if err := img.Unpack(ctx, r.snapshotter); err != nil {
		return fmt.Errorf("unpack image %s: %w", name, err)
	}
	return nil
}

// cachedImage returns the entry of info's image, looking it up if needed.
func (r *Runtime) cachedImage(ctx context.Context, info ImageInfo) (imageEntry, error) {
	name := info.Name
	if name == "" {
		n, err := NormalizeImageRef(info.Ref)
		if err != nil {
			return imageEntry{}, err
		}
		name = n
	}
	r.mu.Lock()
	e, ok := r.images[name]
	r.mu.Unlock()
	if ok && (info.ID == "" || e.info.ID == info.ID) {
		return e, nil
	}
	img, err := r.client.ImageService().Get(ctx, name)
	if err != nil {
		return imageEntry{}, fmt.Errorf("image %s: %w", info.Ref, err)
	}
	return r.imageEntry(ctx, info.Ref, img)
}
