package server

import (
	"bytes"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/sqlkube/sqlkube/server/registry"
)

// sample returns an empty object of res with its kind and a name, as a
// client sends it.
func sample(res *registry.Resource) runtime.Object {
	obj := res.New()
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	if m, ok := obj.(metav1.Object); ok {
		m.SetName("x")
	}
	return obj
}

// clientProto encodes as client-go's typed clients do with the protobuf
// content type: with client-go's scheme, which knows every built-in group,
// so that a group missing from the server's scheme shows as a decoding
// failure and not as an encoding one.
var clientProto = protobuf.NewSerializer(clientgoscheme.Scheme, clientgoscheme.Scheme)

// TestCodecDecodesEveryResource: every resource the registry serves can be
// decoded, from JSON and from protobuf, into its type, and so can the
// DeleteOptions a protobuf client sends with a DELETE of it (client-go
// labels them with the resource's group and version). A group left out of
// the codec's scheme fails here.
func TestCodecDecodesEveryResource(t *testing.T) {
	c, err := newCodec()
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range registry.Builtin().Resources() {
		t.Run(res.GVR().String(), func(t *testing.T) {
			gvk := res.GVK()
			in := sample(res)

			var pb bytes.Buffer
			if err := clientProto.Encode(in, &pb); err != nil {
				t.Fatalf("encode as protobuf: %v", err)
			}
			obj, got, err := c.proto.Decode(pb.Bytes(), &gvk, res.New())
			if err != nil {
				t.Fatalf("protobuf: %v", err)
			}
			if *got != gvk || obj.(metav1.Object).GetName() != "x" {
				t.Fatalf("protobuf decoded a %v named %q, want a %v named x", got, obj.(metav1.Object).GetName(), gvk)
			}

			js, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			for name, dec := range map[string]runtime.Decoder{"strict JSON": c.strict, "lax JSON": c.lax} {
				obj, got, err := dec.Decode(js, &gvk, res.New())
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if *got != gvk || obj.(metav1.Object).GetName() != "x" {
					t.Fatalf("%s decoded a %v named %q, want a %v named x", name, got, obj.(metav1.Object).GetName(), gvk)
				}
			}

			if !res.Serves("delete") {
				return
			}
			grace := int64(7)
			pb.Reset()
			opts := &metav1.DeleteOptions{GracePeriodSeconds: &grace}
			opts.GetObjectKind().SetGroupVersionKind(res.GroupVersion().WithKind("DeleteOptions"))
			if err := clientProto.Encode(opts, &pb); err != nil {
				t.Fatalf("encode DeleteOptions: %v", err)
			}
			// As deleteOptions (delete.go) decodes them.
			into := &metav1.DeleteOptions{}
			want := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
			if _, _, err := c.proto.Decode(pb.Bytes(), &want, into); err != nil {
				t.Fatalf("protobuf DeleteOptions of %s: %v", res.GroupVersion(), err)
			}
			if into.GracePeriodSeconds == nil || *into.GracePeriodSeconds != 7 {
				t.Fatalf("protobuf DeleteOptions of %s: %+v", res.GroupVersion(), into)
			}
		})
	}
}

// TestCodecKnowsSubresourceKinds: the kinds discovery names for the
// subresources that take a body are in the codec's scheme.
func TestCodecKnowsSubresourceKinds(t *testing.T) {
	c, err := newCodec()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]schema.GroupVersionKind{
		"scale":    {Group: "autoscaling", Version: "v1", Kind: "Scale"},
		"binding":  {Version: "v1", Kind: "Binding"},
		"eviction": {Group: "policy", Version: "v1", Kind: "Eviction"},
		"token":    {Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"},
	}
	for _, res := range registry.Builtin().Resources() {
		for _, sub := range res.Subresources {
			if gvk, ok := kinds[sub]; ok && !c.scheme.Recognizes(gvk) {
				t.Errorf("%s/%s: the codec does not know %v", res.GVR(), sub, gvk)
			}
		}
	}
}

// TestApplySchemaKnowsEveryResource: server-side apply has a schema for
// every resource that can be patched, through the resource and through
// each of its subresources the field manager serves.
func TestApplySchemaKnowsEveryResource(t *testing.T) {
	c, err := newCodec()
	if err != nil {
		t.Fatal(err)
	}
	types, err := applySchemas(c.scheme)
	if err != nil {
		t.Fatal(err)
	}
	f := &fieldManagers{scheme: c.scheme}
	for _, res := range registry.Builtin().Resources() {
		if !res.Serves("patch") {
			continue
		}
		if _, err := types.ObjectToTyped(sample(res)); err != nil {
			t.Errorf("%s: %v", res.GVR(), err)
		}
		for _, sub := range []string{"", "status"} {
			if sub != "" && !res.HasSubresource(sub) {
				continue
			}
			if _, err := f.get(res, sub); err != nil {
				t.Errorf("%s %s: %v", res.GVR(), sub, err)
			}
		}
	}
}
