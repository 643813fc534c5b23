"""Drive sqlkube with the official Python client, the way its users do.

Usage: /usr/bin/python3 pyclient.py KUBECONFIG [--keep-going] [--debug]

Run with Debian's /usr/bin/python3 and its python3-kubernetes package.
It prints one line per check ("ok   NAME" or "FAIL NAME: why") and exits 1
at the first failure. --keep-going runs the remaining checks after a
failure (still exiting 1), --debug logs every HTTP request and response
(headers and bodies) the client exchanges with the server. Used by
e2e/python_test.go.
"""

import sys
import time
from urllib.parse import urlencode

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NS = "pyclient"


class CheckFailed(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def describe(e):
    """One line for an exception, with the server's answer if it has one."""
    if isinstance(e, ApiException):
        body = (e.body or b"")
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        return "HTTP %s %s: %s" % (e.status, e.reason, body.strip()[:600])
    return "%s: %s" % (type(e).__name__, e)


def log_requests():
    """Print every request the client sends and what the server answers.

    It wraps urllib3 under the client, so it shows the final method, URL,
    headers and body. (The client's own Configuration.debug does not stay
    on: every model it decodes makes a new Configuration, which turns it
    off again.)
    """
    request = urllib3.PoolManager.request

    def logged(self, method, url, fields=None, headers=None, **kw):
        query = ("?" + urlencode(fields)) if fields and method in ("GET", "HEAD", "DELETE") else ""
        shown = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
        body = kw.get("body")
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        print(">>> %s %s%s %s %s" % (method, url, query, shown, body or ""), flush=True)
        r = request(self, method, url, fields=fields, headers=headers, **kw)
        if kw.get("preload_content", True):
            print("<<< %s %s %s" % (r.status, r.headers.get("Content-Type"), r.data[:600].decode("utf-8", "replace").strip()), flush=True)
        else:
            print("<<< %s %s (streamed)" % (r.status, r.headers.get("Content-Type")), flush=True)
        return r

    urllib3.PoolManager.request = logged


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    keep_going = "--keep-going" in argv
    debug = "--debug" in argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    kubeconfig = args[0]

    if debug:
        log_requests()
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()
    apps = client.AppsV1Api()

    def list_namespaces():
        names = {ns.metadata.name for ns in v1.list_namespace().items}
        for want in ("default", "kube-system"):
            expect(want in names, "namespace %s not listed (got %s)" % (want, sorted(names)))

    def create_namespace():
        ns = v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
        expect(ns.metadata.name == NS, "created namespace is named %r" % ns.metadata.name)
        expect(ns.metadata.uid, "created namespace has no uid")

    def create_configmap():
        for name, tier in (("web", "frontend"), ("db", "backend")):
            cm = v1.create_namespaced_config_map(NS, client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=name, labels={"tier": tier}),
                data={"greeting": "hello"}))
            expect(cm.metadata.name == name and cm.data == {"greeting": "hello"},
                   "create returned %s %s" % (cm.metadata.name, cm.data))

    def get_configmap():
        cm = v1.read_namespaced_config_map("web", NS)
        expect(cm.data == {"greeting": "hello"}, "data is %s" % cm.data)
        expect(cm.metadata.labels == {"tier": "frontend"}, "labels are %s" % cm.metadata.labels)
        expect(cm.metadata.creation_timestamp is not None, "no creationTimestamp")

    def list_label_selector():
        got = [cm.metadata.name for cm in v1.list_namespaced_config_map(NS, label_selector="tier=frontend").items]
        expect(got == ["web"], "tier=frontend lists %s, want [web]" % got)
        got = [cm.metadata.name for cm in v1.list_namespaced_config_map(NS, label_selector="tier in (frontend,backend)").items]
        expect(sorted(got) == ["db", "web"], "tier in (frontend,backend) lists %s, want [db web]" % got)

    def strategic_merge_patch():
        # A dict body: the client sends application/strategic-merge-patch+json.
        cm = v1.patch_namespaced_config_map("web", NS, {
            "metadata": {"labels": {"patched": "smp"}},
            "data": {"color": "blue"}})
        expect(cm.data == {"greeting": "hello", "color": "blue"}, "data after patch is %s" % cm.data)
        expect(cm.metadata.labels == {"tier": "frontend", "patched": "smp"}, "labels after patch are %s" % cm.metadata.labels)

    def json_merge_patch():
        # This client (22.x) has no _content_type argument: users set the
        # Content-Type header on a client of its own, which wins over the
        # operation's default.
        merge = client.ApiClient()
        merge.set_default_header("Content-Type", "application/merge-patch+json")
        cm = client.CoreV1Api(merge).patch_namespaced_config_map("web", NS, {
            "data": {"greeting": None, "color": "red"}})
        expect(cm.data == {"color": "red"}, "data after merge patch is %s, want {'color': 'red'}" % cm.data)

    def json_patch():
        # A list body: the client sends application/json-patch+json.
        cm = v1.patch_namespaced_config_map("web", NS, [
            {"op": "test", "path": "/data/color", "value": "red"},
            {"op": "add", "path": "/data/size", "value": "L"}])
        expect(cm.data == {"color": "red", "size": "L"}, "data after JSON patch is %s" % cm.data)

    def create_deployment():
        labels = {"app": "web"}
        dep = apps.create_namespaced_deployment(NS, client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web", labels=labels),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(
                        name="web", image="registry.local/web:1",
                        ports=[client.V1ContainerPort(container_port=8080)])])))))
        expect(dep.metadata.name == "web" and dep.spec.replicas == 2, "create returned %s replicas=%s" % (dep.metadata.name, dep.spec.replicas))
        # Defaults a client sees on what it created.
        expect(dep.spec.strategy is not None and dep.spec.strategy.type == "RollingUpdate", "strategy is %s" % dep.spec.strategy)

    def read_deployment():
        dep = apps.read_namespaced_deployment("web", NS)
        c = dep.spec.template.spec.containers[0]
        expect(dep.spec.replicas == 2 and c.image == "registry.local/web:1", "read replicas=%s image=%s" % (dep.spec.replicas, c.image))
        expect(c.ports[0].container_port == 8080 and c.ports[0].protocol == "TCP", "ports are %s" % c.ports)

    def replace_deployment():
        # Read, change, replace; retry on a conflict with the deployment
        # controller's status updates, as users do.
        for attempt in range(5):
            dep = apps.read_namespaced_deployment("web", NS)
            old_rv = dep.metadata.resource_version
            dep.spec.replicas = 3
            dep.spec.template.spec.containers[0].image = "registry.local/web:2"
            try:
                got = apps.replace_namespaced_deployment("web", NS, dep)
                break
            except ApiException as e:
                if e.status != 409 or attempt == 4:
                    raise
        expect(got.spec.replicas == 3 and got.spec.template.spec.containers[0].image == "registry.local/web:2",
               "replace returned replicas=%s image=%s" % (got.spec.replicas, got.spec.template.spec.containers[0].image))
        expect(got.metadata.resource_version != old_rv, "resourceVersion unchanged by replace (%s)" % old_rv)
        dep = apps.read_namespaced_deployment("web", NS)
        expect(dep.spec.replicas == 3 and dep.metadata.generation >= 2, "read back replicas=%s generation=%s" % (dep.spec.replicas, dep.metadata.generation))

    def watch_configmaps():
        rv = v1.list_namespaced_config_map(NS).metadata.resource_version
        expect(rv, "the list has no resourceVersion to watch from")
        for name in ("w1", "w2"):
            v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name)))
        added, others = [], []
        w = watch.Watch()
        try:
            for event in w.stream(v1.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=10, _request_timeout=30):
                obj = event["object"]
                if event["type"] == "ADDED" and obj.metadata.name in ("w1", "w2"):
                    added.append(obj.metadata.name)
                else:
                    others.append("%s %s" % (event["type"], obj.metadata.name))
                if len(added) == 2:
                    w.stop()
        except Exception as e:
            raise CheckFailed("watch stream(list_namespaced_config_map, resource_version=%s, timeout_seconds=10) raised %s"
                              " (the client decodes each line as a watch event {type, object});"
                              " GET ...?watch=True answered: %s" % (rv, describe(e), raw_watch_answer(rv)))
        expect(added == ["w1", "w2"], "ADDED events for %s (other events: %s), want w1 then w2" % (added, others))

    def raw_watch_answer(rv):
        # The same request the stream makes, to show what came back.
        try:
            resp = v1.list_namespaced_config_map(NS, watch=True, resource_version=rv, timeout_seconds=1, _preload_content=False)
            body = resp.read(300).decode("utf-8", "replace")
            resp.close()
            return "%s Content-Type %s, body %r" % (resp.status, resp.headers.get("Content-Type"), body)
        except Exception as e:
            return describe(e)

    def delete_foreground():
        opts = client.V1DeleteOptions(propagation_policy="Foreground")
        _, status, _ = apps.delete_namespaced_deployment_with_http_info("web", NS, body=opts)
        expect(status == 200, "DELETE deployment answered %s, want 200" % status)
        _, status, _ = v1.delete_namespaced_config_map_with_http_info("web", NS, body=opts)
        expect(status == 200, "DELETE configmap answered %s, want 200" % status)
        deadline = time.time() + 30
        for read in (lambda: apps.read_namespaced_deployment("web", NS), lambda: v1.read_namespaced_config_map("web", NS)):
            while True:
                try:
                    obj = read()
                except ApiException as e:
                    if e.status == 404:
                        break
                    raise
                expect(time.time() < deadline, "%s %s still there 30s after the delete (finalizers %s)"
                       % (obj.kind, obj.metadata.name, obj.metadata.finalizers))
                time.sleep(0.5)

    checks = [
        ("list namespaces", list_namespaces),
        ("create namespace", create_namespace),
        ("create configmaps", create_configmap),
        ("get configmap", get_configmap),
        ("list with label selector", list_label_selector),
        ("strategic merge patch", strategic_merge_patch),
        ("JSON merge patch", json_merge_patch),
        ("JSON patch", json_patch),
        ("create deployment", create_deployment),
        ("read deployment", read_deployment),
        ("replace deployment", replace_deployment),
        ("watch configmaps", watch_configmaps),
        ("delete with propagationPolicy Foreground", delete_foreground),
    ]
    failed = 0
    for name, fn in checks:
        try:
            fn()
        except CheckFailed as e:
            print("FAIL %s: %s" % (name, e), flush=True)
            failed += 1
        except Exception as e:
            print("FAIL %s: %s" % (name, describe(e)), flush=True)
            failed += 1
        else:
            print("ok   %s" % name, flush=True)
            continue
        if not keep_going:
            return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
