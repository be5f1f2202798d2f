"""Checks the manifests `helm template` rendered from deploy/helm/douyin-mall against the
repository: Services are the service registry, so every URL a workload is given must name a
rendered Service that selects the Deployment running that service, on its port.

    python3 check_rendered.py --repo . --namespace shop RENDER.yaml...

For each render:
  - every subgraph of the supergraph (schema/supergraph.graphql, `enum join__Graph`) has a
    Deployment running `<name>-subgraph` on the port of service_kit::config::SUBGRAPH_PORTS, and a
    Service selecting exactly that Deployment on that port;
  - every Service selects exactly one Deployment, on a port the Deployment's container has;
  - the router's configuration (its ConfigMap) reads each subgraph's URL from
    <NAME>_SUBGRAPH_URL, and the router's env sets each to its Service's DNS name; JWKS_URL
    names the user Service;
  - each subgraph is given the URL of every peer its code calls (`peer_url(...)` in
    subgraphs/<name>/src; ROUTER is the assistant's ROUTER_URL) as a Service DNS name, and
    its NetworkPolicy admits exactly the router and those callers from the release;
  - the ConfigMaps hold the repository's router-config/ files and supergraph;
  - probes, drain-versus-grace-period, replicas >= 2, MALL_ENV=production, non-root and a
    read-only root filesystem, no Secret rendered, the Ingress publishing only /graphql and
    the payment webhook, HPAs and PDBs pointing at Deployments.
Prints one line per render; exits 1 listing every problem.
"""

import argparse
import json
import pathlib
import re
import sys

import yaml

ROUTER = "router"


class Problems(list):
    def check(self, ok, message):
        if not ok:
            self.append(message)
        return ok


def supergraph_subgraphs(text):
    """name -> development port, from the supergraph's `enum join__Graph`."""
    enum = re.search(r"enum join__Graph \{(.*?)\}", text, re.S)
    if not enum:
        raise SystemExit("no `enum join__Graph` in the supergraph")
    pairs = re.findall(r'@join__graph\(name: "(\w+)", url: "http://[^:"]+:(\d+)/graphql"\)', enum.group(1))
    return {name: int(port) for name, port in pairs}


def code_ports(repo):
    text = (repo / "crates/service-kit/src/config.rs").read_text()
    block = re.search(r"SUBGRAPH_PORTS[^=]*=\s*\[(.*?)\];", text, re.S)
    return {name: int(port) for name, port in re.findall(r'\("(\w+)",\s*(\d+)\)', block.group(1))}


def code_calls(repo, names):
    """subgraph -> the peers its code calls (`peer_url("x")`, `peer_url(...ROUTER)`)."""
    calls = {}
    for name in names:
        found = set()
        for source in (repo / "subgraphs" / name / "src").rglob("*.rs"):
            for match in re.finditer(r'peer_url\(\s*(?:"(\w+)"|[\w:]*\bROUTER)\s*\)', source.read_text()):
                found.add(match.group(1) or ROUTER)
        calls[name] = found
    return calls


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", []) if "value" in e}


def env_names(container):
    return {e["name"] for e in container.get("env", [])}


def check_render(path, repo, namespace, expected, ports, calls, problems):
    docs = [d for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    deployments = by_kind.get("Deployment", {})
    services = by_kind.get("Service", {})
    where = pathlib.Path(path).name
    p = lambda ok, message: problems.check(ok, f"{where}: {message}")  # noqa: E731

    p("Secret" not in by_kind, "the chart must not render Secrets (references only)")

    # Which workload each Deployment runs (its container's command).
    workload_of = {}
    for name, dep in deployments.items():
        containers = dep["spec"]["template"]["spec"]["containers"]
        command = containers[0].get("command", [""])[0]
        workload = ROUTER if command == "router" else command.removesuffix("-subgraph")
        workload_of[name] = workload
    deployment_for = {w: n for n, w in workload_of.items()}
    p(set(deployment_for) == set(expected) | {ROUTER},
      f"Deployments run {sorted(deployment_for)}, expected the router and {sorted(expected)}")

    # Services: each selects exactly one Deployment, on a port its container serves.
    dns = {}  # workload -> (host, port)
    for sname, svc in services.items():
        selector = svc["spec"].get("selector", {})
        chosen = [n for n, d in deployments.items()
                  if selects(selector, d["spec"]["template"]["metadata"]["labels"])]
        if not p(len(chosen) == 1, f"Service {sname} selects {len(chosen)} Deployments ({chosen})"):
            continue
        dep = deployments[chosen[0]]
        container = dep["spec"]["template"]["spec"]["containers"][0]
        named = {cp.get("name"): cp["containerPort"] for cp in container.get("ports", [])}
        for sp in svc["spec"]["ports"]:
            target = sp.get("targetPort", sp["port"])
            served = named.get(target) if isinstance(target, str) else target
            p(served in named.values(), f"Service {sname} port {sp['port']} targets {target}, which {chosen[0]} does not serve")
        p(dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items(),
          f"Deployment {chosen[0]}: selector does not match its pods")
        workload = workload_of[chosen[0]]
        port = svc["spec"]["ports"][0]["port"]
        p(workload not in dns, f"two Services select the {workload} Deployment")
        dns[workload] = (f"{sname}.{namespace}.svc.cluster.local", port)
    for workload in set(expected) | {ROUTER}:
        p(workload in dns, f"no Service selects the {workload} Deployment")

    def url_of(workload, suffix="/graphql"):
        host, port = dns.get(workload, ("<no service>", 0))
        return f"http://{host}:{port}{suffix}"

    # Each subgraph: its port, its peers, probes, grace period, hardening.
    for name, dev_port in expected.items():
        dep = deployments.get(deployment_for.get(name))
        if dep is None:
            continue
        spec = dep["spec"]["template"]["spec"]
        container = spec["containers"][0]
        env = env_of(container)
        port = ports.get(name)
        p(dev_port == port, f"{name}: the supergraph says port {dev_port}, SUBGRAPH_PORTS says {port}")
        p(dns.get(name, (None, None))[1] == port, f"{name}: its Service's port is not {port}")
        p(env.get(f"{name.upper()}_SUBGRAPH_ADDR") == f"0.0.0.0:{port}",
          f"{name}: {name.upper()}_SUBGRAPH_ADDR should be 0.0.0.0:{port}")
        for peer in calls[name]:
            var = "ROUTER_URL" if peer == ROUTER else f"{peer.upper()}_SUBGRAPH_URL"
            p(env.get(var) == url_of(peer), f"{name}: {var}={env.get(var)!r}, expected {url_of(peer)!r}")
        p(container["livenessProbe"]["httpGet"]["path"] == "/health", f"{name}: liveness is not /health")
        p(container["readinessProbe"]["httpGet"]["path"] in ("/ready", "/health"), f"{name}: readiness is neither /ready nor /health")
        drain = int(env.get("SHUTDOWN_DELAY_SECONDS", 0)) + 2 * int(env.get("SHUTDOWN_TIMEOUT_SECONDS", 10))
        p(spec["terminationGracePeriodSeconds"] > drain,
          f"{name}: terminationGracePeriodSeconds {spec['terminationGracePeriodSeconds']} <= drain {drain}")
        p({"DATABASE_URL", "REDIS_URL"} <= env_names(container), f"{name}: DATABASE_URL/REDIS_URL missing")
        for var in ("AUTH_SIGNING_KEY_FILE", "INTERNAL_API_TOKEN_FILE", "METRICS_TOKEN_FILE"):
            p(var in env, f"{name}: {var} missing")
        p(env.get("SEED_DEMO_DATA") == "false", f"{name}: SEED_DEMO_DATA must be false")

    # The router: its configuration reads every subgraph URL from the env, which names the
    # Services.
    router = deployments.get(deployment_for.get(ROUTER))
    if router is not None:
        spec = router["spec"]["template"]["spec"]
        container = spec["containers"][0]
        env = env_of(container)
        config_maps = by_kind.get("ConfigMap", {})
        config_text = next((cm["data"]["router.config.yaml"] for cm in config_maps.values()
                            if "router.config.yaml" in cm.get("data", {})), None)
        if p(config_text is not None, "no ConfigMap holds router.config.yaml"):
            config = yaml.safe_load(config_text)
            overrides = config.get("override_subgraph_urls", {}).get("subgraphs", {})
            for name in expected:
                var = f"{name.upper()}_SUBGRAPH_URL"
                url = overrides.get(name, {}).get("url", {})
                p(isinstance(url, dict) and url.get("from_env") == var,
                  f"router.config.yaml: override_subgraph_urls.{name} does not read {var}")
                p(env.get(var) == url_of(name), f"router: {var}={env.get(var)!r}, expected {url_of(name)!r}")
            jwks = config["jwt"]["jwks_providers"][0]["url"]
            p(jwks.get("from_env") == "JWKS_URL", "router.config.yaml: the JWKS URL does not read JWKS_URL")
        p(env.get("JWKS_URL") == url_of("user", "/.well-known/jwks.json"), f"router: JWKS_URL={env.get('JWKS_URL')!r}")
        p({"INTERNAL_API_TOKEN", "REDIS_URL"} <= env_names(container), "router: INTERNAL_API_TOKEN/REDIS_URL missing")
        p(container["livenessProbe"]["httpGet"]["path"] == "/health", "router: liveness is not /health")
        p(container["readinessProbe"]["httpGet"]["path"] == "/readiness", "router: readiness is not /readiness")
        drain = int(env.get("ROUTER_SHUTDOWN_DELAY_SECONDS", 0)) + int(env.get("ROUTER_DRAIN_TIMEOUT_SECONDS", 10)) + 5
        p(spec["terminationGracePeriodSeconds"] > drain, f"router: terminationGracePeriodSeconds <= drain {drain}")
        for var, value in (("ROUTER_REQUIRE_DOCUMENT_ID", "true"), ("ROUTER_INTROSPECTION", "false"),
                           ("LABORATORY_ENABLED", "false"), ("PLAYGROUND_ENABLED", "false")):
            p(env.get(var) == value, f"router: {var} should be {value}")

    # Every Deployment: production mode, replicas, hardening, Prometheus annotations.
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind.get("HorizontalPodAutoscaler", {}).values()}
    for hname, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        p(hpa["spec"]["scaleTargetRef"]["name"] in deployments, f"HPA {hname} targets no Deployment")
    for pname, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        chosen = [n for n, d in deployments.items()
                  if selects(pdb["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])]
        p(len(chosen) == 1, f"PDB {pname} selects {chosen}")
    for name, dep in deployments.items():
        template = dep["spec"]["template"]
        container = template["spec"]["containers"][0]
        env = env_of(container)
        p(env.get("MALL_ENV") == "production", f"{name}: MALL_ENV is not production")
        replicas = hpas[name]["spec"]["minReplicas"] if name in hpas else dep["spec"].get("replicas", 1)
        p(replicas >= 2, f"{name}: {replicas} replica(s); at least 2")
        p(template["spec"].get("securityContext", {}).get("runAsNonRoot") is True, f"{name}: not runAsNonRoot")
        p(container.get("securityContext", {}).get("readOnlyRootFilesystem") is True, f"{name}: root filesystem writable")
        p(template["spec"].get("automountServiceAccountToken") is False, f"{name}: mounts a ServiceAccount token")
        annotations = template["metadata"].get("annotations", {})
        p(annotations.get("prometheus.io/scrape") == "true"
          and int(annotations.get("prometheus.io/port", 0)) == container["ports"][0]["containerPort"],
          f"{name}: Prometheus annotations missing or on the wrong port")

    # NetworkPolicies: exactly the router and the callers from the code.
    policies = by_kind.get("NetworkPolicy", {})
    if policies:
        for workload in set(expected) | {ROUTER}:
            dep = deployments.get(deployment_for.get(workload))
            if dep is None:
                continue
            labels = dep["spec"]["template"]["metadata"]["labels"]
            mine = [np for np in policies.values() if selects(np["spec"]["podSelector"].get("matchLabels", {}), labels)]
            if not p(mine, f"no NetworkPolicy selects {workload}"):
                continue
            admitted = set()
            for np in mine:
                for rule in np["spec"].get("ingress", []):
                    for peer in rule.get("from", []):
                        if "namespaceSelector" in peer or "ipBlock" in peer:
                            continue
                        for other, odep in deployments.items():
                            if selects(peer.get("podSelector", {}).get("matchLabels", {}),
                                       odep["spec"]["template"]["metadata"]["labels"]):
                                admitted.add(workload_of[other])
            wanted = {caller for caller, peers in calls.items() if workload in peers}
            if workload != ROUTER:
                wanted.add(ROUTER)
            p(admitted == wanted, f"NetworkPolicy of {workload} admits {sorted(admitted)}, the code needs {sorted(wanted)}")

    # The Ingress: /graphql to the router, the webhook path to the payment subgraph, nothing else.
    for iname, ingress in by_kind.get("Ingress", {}).items():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]["name"]
                svc = services.get(backend)
                target = None
                if svc:
                    chosen = [n for n, d in deployments.items()
                              if selects(svc["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
                    target = workload_of.get(chosen[0]) if chosen else None
                ok = (target == ROUTER and path["path"].startswith("/graphql")) or \
                     (target == "payment" and path["path"] == "/webhooks/payments" and path["pathType"] == "Exact")
                p(ok, f"Ingress {iname}: {path['path']} goes to {backend} ({target})")

    # The ConfigMaps hold the repository's files.
    wanted_files = {
        "router.config.yaml": repo / "router-config/router.config.yaml",
        "public-operations.yaml": repo / "router-config/public-operations.yaml",
        "persisted-documents.json": repo / "router-config/persisted-documents.json",
        "supergraph.graphql": repo / "schema/supergraph.graphql",
    }
    rendered = {}
    for cm in by_kind.get("ConfigMap", {}).values():
        rendered.update(cm.get("data", {}))
    for key, source in wanted_files.items():
        p(rendered.get(key, "").rstrip("\n") == source.read_text().rstrip("\n"),
          f"ConfigMap {key} differs from {source.relative_to(repo)}")
    if "rate-limits.yaml" in rendered:
        limits = yaml.safe_load(rendered["rate-limits.yaml"])
        p(isinstance(limits, dict) and "per_address" in limits, "ConfigMap rate-limits.yaml is not a rate-limit file")
    else:
        p(False, "no ConfigMap holds rate-limits.yaml")
    json.loads(rendered.get("persisted-documents.json", "{}"))

    return {"manifests": len(docs), "services": len(services), "deployments": len(deployments),
            "policies": len(policies)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("renders", nargs="+")
    args = parser.parse_args()
    repo = pathlib.Path(args.repo)
    expected = supergraph_subgraphs((repo / "schema/supergraph.graphql").read_text())
    ports = code_ports(repo)
    calls = code_calls(repo, expected)
    problems = Problems()
    problems.check(set(ports) == set(expected),
                   f"SUBGRAPH_PORTS names {sorted(ports)}, the supergraph {sorted(expected)}")
    totals = []
    for render in args.renders:
        totals.append(check_render(render, repo, args.namespace, expected, ports, calls, problems))
    if problems:
        for problem in problems:
            print(f"deploy check: {problem}", file=sys.stderr)
        sys.exit(1)
    edges = sum(len(v) for v in calls.values())
    last = totals[-1]
    print(f"topology ok: {len(expected)} subgraphs + router, {last['services']} Services each "
          f"selecting one Deployment, {edges} peer calls from the code matched by env and NetworkPolicies "
          f"in {len(totals)} renders")


if __name__ == "__main__":
    main()
