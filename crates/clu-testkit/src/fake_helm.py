#!/usr/bin/env python3
"""A small stand-in for the `helm` executable that talks to the API server the way helm does.

It reads the cluster from $KUBECONFIG (server and bearer token), finds each kind's resource by
discovery, keeps releases in ConfigMaps named `sh.helm.release.v1.<release>.v<revision>` with
helm's labels (HELM_DRIVER must be `configmap`), checks for existing objects before an
install, sends `dryRun=All` under `--dry-run=server`, patches or creates on upgrade and
rollback, deletes what a new revision drops, and deletes objects and storage on uninstall.

A chart `repo/name` is the JSON list of objects in `$FAKE_HELM_CHARTS/repo_name.json`. A values
file (`-f`) may set `replicaCount`, which becomes every Deployment's `spec.replicas`.
Each argv is appended to `argv.log` beside this file, one argument a line, then `--`.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(message, code=1):
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(code)


class Cluster:
    def __init__(self, path):
        with open(path) as handle:
            config = json.load(handle)
        self.server = config["clusters"][0]["cluster"]["server"].rstrip("/")
        self.token = config["users"][0]["user"]["token"]
        self.resources = {}

    def call(self, method, path, body=None, params=None, content_type="application/json"):
        url = self.server + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request) as answer:
                text = answer.read()
                return answer.status, (json.loads(text) if text else {})
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, {"message": text.decode(errors="replace")}

    def must(self, method, path, body=None, params=None, content_type="application/json"):
        status, answer = self.call(method, path, body, params, content_type)
        if status >= 400:
            fail(f"{method} {path}: {answer.get('message', answer)}")
        return answer

    def resource(self, api_version, kind):
        """The plural resource of a kind and whether it is namespaced, by discovery, as helm's
        REST mapper finds them."""
        key = (api_version, kind)
        if key not in self.resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            listing = self.must("GET", base)
            for entry in listing.get("resources", []):
                if entry.get("kind") == kind and "/" not in entry["name"]:
                    self.resources[key] = (entry["name"], entry.get("namespaced", True))
            if key not in self.resources:
                fail(f'resource mapping not found for kind "{kind}" in version "{api_version}"')
        return self.resources[key]

    def object_path(self, obj, namespace, named=True):
        api_version, kind = obj["apiVersion"], obj["kind"]
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        resource, namespaced = self.resource(api_version, kind)
        scope = f"/namespaces/{namespace}" if namespaced else ""
        path = f"{base}{scope}/{resource}"
        return f"{path}/{obj['metadata']['name']}" if named else path


def storage_path(namespace, name=None):
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    return f"{path}/{name}" if name else path


def releases(cluster, release, namespace):
    """The stored revisions of a release, oldest first."""
    selector = f"name={release},owner=helm"
    listing = cluster.must("GET", storage_path(namespace), params={"labelSelector": selector})
    stored = []
    for item in listing.get("items", []):
        record = json.loads(item["data"]["release"])
        record["_configmap"] = item["metadata"]["name"]
        stored.append(record)
    return sorted(stored, key=lambda r: r["version"])


def store(cluster, record, create):
    name = f"sh.helm.release.v1.{record['name']}.v{record['version']}"
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "labels": {
                "name": record["name"],
                "owner": "helm",
                "status": record["info"]["status"],
                "version": str(record["version"]),
            },
        },
        "data": {"release": json.dumps({k: v for k, v in record.items() if k != "_configmap"})},
    }
    namespace = record["namespace"]
    if create:
        cluster.must("POST", storage_path(namespace), body)
    else:
        cluster.must("PUT", storage_path(namespace, name), body)


def manifest_text(objects):
    return "".join("---\n" + json.dumps(o, indent=2, sort_keys=True) + "\n" for o in objects)


def chart_objects(chart, values_file):
    directory = os.environ.get("FAKE_HELM_CHARTS", HERE)
    path = os.path.join(directory, chart.replace("/", "_") + ".json")
    if not os.path.exists(path):
        fail(f'chart "{chart}" not found')
    with open(path) as handle:
        objects = json.load(handle)
    replicas = None
    if values_file:
        with open(values_file) as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "replicaCount":
                    replicas = int(value.strip())
    for obj in objects:
        if replicas is not None and obj["kind"] == "Deployment":
            obj.setdefault("spec", {})["replicas"] = replicas
    return objects


def key_of(obj):
    return (obj["apiVersion"], obj["kind"], obj["metadata"]["name"])


def apply_objects(cluster, namespace, old, new, dry_run):
    """Makes the live objects `new`: patch what exists, create what does not, delete what
    `old` had and `new` drops."""
    params = {"dryRun": "All"} if dry_run else None
    for obj in new:
        status, _ = cluster.call("GET", cluster.object_path(obj, namespace))
        if status == 200:
            cluster.must(
                "PATCH",
                cluster.object_path(obj, namespace),
                obj,
                params,
                "application/merge-patch+json",
            )
        elif status == 404:
            cluster.must("POST", cluster.object_path(obj, namespace, named=False), obj, params)
        else:
            fail(f"cannot read {obj['kind']} {obj['metadata']['name']} (HTTP {status})")
    kept = {key_of(o) for o in new}
    for obj in old:
        if key_of(obj) not in kept:
            cluster.must("DELETE", cluster.object_path(obj, namespace), params=params)


def flag(args, name):
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def positional(args):
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--namespace", "--version", "-f", "--output", "--revision"):
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def deployed(stored):
    live = [r for r in stored if r["info"]["status"] == "deployed"]
    return live[-1] if live else None


def main():
    args = sys.argv[1:]
    with open(os.path.join(HERE, "argv.log"), "a") as log:
        log.write("".join(a + "\n" for a in args) + "--\n")
    if os.environ.get("HELM_DRIVER") != "configmap":
        fail(f"HELM_DRIVER is {os.environ.get('HELM_DRIVER')}", 3)
    if not os.environ.get("KUBECONFIG"):
        fail("no KUBECONFIG", 3)
    cluster = Cluster(os.environ["KUBECONFIG"])
    command, rest = args[0], args[1:]
    namespace = flag(rest, "--namespace") or "default"
    dry_run = "--dry-run=server" in rest or "--dry-run" in rest
    words = positional(rest)

    if command in ("install", "upgrade"):
        release, chart = words[0], words[1]
        objects = chart_objects(chart, flag(rest, "-f"))
        stored = releases(cluster, release, namespace)
        current = deployed(stored)
        if command == "install":
            if current:
                fail("cannot re-use a name that is still in use")
            for obj in objects:
                status, _ = cluster.call("GET", cluster.object_path(obj, namespace))
                if status == 200:
                    fail(f"{obj['kind']} \"{obj['metadata']['name']}\" exists and cannot be imported")
            old = []
        else:
            if not current:
                fail(f'"{release}" has no deployed releases')
            old = json.loads(current["objects"])
        version = (stored[-1]["version"] + 1) if stored else 1
        record = {
            "name": release,
            "namespace": namespace,
            "version": version,
            "manifest": manifest_text(objects),
            "objects": json.dumps(objects),
            "info": {"status": "deployed"},
            "chart": {"metadata": {"name": chart.split("/")[-1], "version": flag(rest, "--version")}},
        }
        if command == "install":
            if dry_run:
                for obj in objects:
                    cluster.must(
                        "POST",
                        cluster.object_path(obj, namespace, named=False),
                        obj,
                        {"dryRun": "All"},
                    )
            else:
                record["info"]["status"] = "pending-install"
                store(cluster, record, create=True)
                for obj in objects:
                    cluster.must("POST", cluster.object_path(obj, namespace, named=False), obj)
                record["info"]["status"] = "deployed"
                store(cluster, record, create=False)
        else:
            apply_objects(cluster, namespace, old, objects, dry_run)
            if not dry_run:
                store(cluster, record, create=True)
                current["info"]["status"] = "superseded"
                store(cluster, current, create=False)
        print(json.dumps({k: v for k, v in record.items() if k != "objects"}))
    elif command == "get" and words[:1] == ["manifest"]:
        release = words[1]
        stored = releases(cluster, release, namespace)
        revision = flag(rest, "--revision")
        chosen = (
            next((r for r in stored if str(r["version"]) == revision), None)
            if revision
            else deployed(stored)
        )
        if not chosen:
            fail("release: not found")
        sys.stdout.write(chosen["manifest"])
    elif command == "history":
        stored = releases(cluster, words[0], namespace)
        if not stored:
            fail("release: not found")
        print(json.dumps([{"revision": r["version"], "status": r["info"]["status"]} for r in stored]))
    elif command == "status":
        current = deployed(releases(cluster, words[0], namespace))
        if not current:
            fail("release: not found")
        print(json.dumps({"name": current["name"], "info": current["info"], "version": current["version"]}))
    elif command == "rollback":
        release, target = words[0], int(words[1])
        stored = releases(cluster, release, namespace)
        current = deployed(stored)
        chosen = next((r for r in stored if r["version"] == target), None)
        if not current or not chosen:
            fail("release: not found")
        objects = json.loads(chosen["objects"])
        apply_objects(cluster, namespace, json.loads(current["objects"]), objects, False)
        record = dict(chosen)
        record.pop("_configmap", None)
        record["version"] = stored[-1]["version"] + 1
        record["info"] = {"status": "deployed"}
        store(cluster, record, create=True)
        current["info"]["status"] = "superseded"
        store(cluster, current, create=False)
        if "--wait" in rest:
            for obj in objects:
                cluster.must("GET", cluster.object_path(obj, namespace))
        print("Rollback was a success! Happy Helming!")
    elif command == "uninstall":
        release = words[0]
        stored = releases(cluster, release, namespace)
        current = deployed(stored)
        if not current:
            fail(f"uninstall: Release not loaded: {release}: release: not found")
        if not dry_run:
            for obj in json.loads(current["objects"]):
                cluster.must("DELETE", cluster.object_path(obj, namespace))
            for record in stored:
                cluster.must("DELETE", storage_path(namespace, record["_configmap"]))
        print(f'release "{release}" uninstalled')
    else:
        fail(f"unexpected helm {command}", 2)


if __name__ == "__main__":
    main()
