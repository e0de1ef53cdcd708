#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The Grafana dashboard (contrib/grafana/) and the alert rules
(contrib/prometheus/) against a real Prometheus: Debian's prometheus
scrapes a sidecar that served real traffic through squid to the TLS
stand-in (a dead proxy first in the list, so a failover is counted; a
send the stand-in resets; a path refused), promtool checks and unit-tests
the rules, Prometheus loads and evaluates them, and every metric, label
and label value the dashboard and the rules name must be in what
Prometheus scraped; every dashboard query must return series. TAP."""

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.environ.get("TESTS_SRCDIR") or
                                os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), "lib"))

import harness  # noqa: E402
from harness import Tap, Sidecar, StandIn, Certs, request, token  # noqa: E402
import proxies  # noqa: E402

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DASHBOARD = os.path.join(SRCDIR, "contrib", "grafana", "tgsidecar.json")
RULES = os.path.join(SRCDIR, "contrib", "prometheus", "tgsidecar.rules.yml")
RULES_TEST = os.path.join(SRCDIR, "contrib", "prometheus",
                          "tgsidecar.rules.test.yml")
EXAMPLE_CONFIG = os.path.join(SRCDIR, "contrib", "prometheus",
                              "prometheus.yml")
# Loopback only: never through a proxy from the test's environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
PROMETHEUS, PROMTOOL = "/usr/bin/prometheus", "/usr/bin/promtool"
# What Grafana would put in; "$instance" is the multi-value variable.
GRAFANA_VARS = (("$__rate_interval", "1m"), ("${instance}", ".+"),
                ("$instance", ".+"))
# The list: each must have a panel whose title names it.
TOPICS = ("Requests by class", "Errors by stage", "latency", "Spares",
          "swallowed", "sliced", "failovers", "In flight", "Memory")

# ------------------------------------------------------------ PromQL names
# Enough of PromQL's lexis to find the metric names, label matchers and
# grouping labels in the expressions these files use (not a parser).

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "bool", "and", "or", "unless", "offset", "inf", "nan",
            # aggregations, which may be followed by "by (...)" not "("
            "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk",
            "bottomk", "quantile", "count_values", "group"}
GROUPING = {"by", "without", "on", "ignoring"}
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*'
                      r'"((?:[^"\\]|\\.)*)"\s*,?')


def _skip_ws(s, i):
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def _close(s, i, open_, close_):
    """Index past the bracket closing the one at s[i], strings skipped."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c == '"':
            i = s.index('"', i + 1)
            while s[i - 1] == "\\":
                i = s.index('"', i + 1)
        elif c == open_:
            depth += 1
        elif c == close_:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced %s in %r" % (open_, s))


def promql_names(expr):
    """([(metric, [(label, op, value)])], [(grouping labels, metrics in
    the expression they group)])."""
    sels, groups, i = [], [], 0
    while i < len(expr):
        c = expr[i]
        if c == '"':
            i = expr.index('"', i + 1) + 1
            continue
        if c == "[":
            i = expr.index("]", i) + 1
            continue
        if c.isdigit() or c == ".":
            while i < len(expr) and (expr[i].isalnum() or expr[i] in "."):
                i += 1
            continue
        m = _IDENT.match(expr, i)
        if not m:
            i += 1
            continue
        name, i = m.group(0), m.end()
        j = _skip_ws(expr, i)
        if name in GROUPING and j < len(expr) and expr[j] == "(":
            end = _close(expr, j, "(", ")")
            labels = [x.strip() for x in expr[j + 1:end - 1].split(",")
                      if x.strip()]
            # by (..) (body): the metrics of the body; else the whole one.
            k = _skip_ws(expr, end)
            inner = None
            if name == "by" and k < len(expr) and expr[k] == "(":
                inner = [n for n, _ in promql_names(
                    expr[k:_close(expr, k, "(", ")")])[0]]
            groups.append((labels, inner))
            i = end
            continue
        if name.lower() in KEYWORDS or (j < len(expr) and expr[j] == "("):
            continue
        matchers = []
        if j < len(expr) and expr[j] == "{":
            end = _close(expr, j, "{", "}")
            inner = expr[j + 1:end - 1]
            for mm in _MATCHER.finditer(inner):
                matchers.append(mm.groups())
            i = end
        sels.append((name, matchers))
    whole = [n for n, _ in sels]
    return sels, [(ls, whole if ms is None else ms) for ls, ms in groups]


def grafana_expr(e):
    for var, val in GRAFANA_VARS:
        e = e.replace(var, val)
    return e


def dashboard_queries(dash):
    """[(where, expr)] for every panel target and query variable."""
    out = []
    for p in dash["panels"]:
        for tg in p.get("targets", []):
            out.append(("panel %r %s" % (p["title"], tg["refId"]),
                        grafana_expr(tg["expr"])))
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q)
        assert m, "variable %s: only label_values(metric, label)" % v["name"]
        out.append(("variable %s" % v["name"],
                    '%s{%s=~".+"}' % (m.group(1), m.group(2))))
    return out


def rules_queries():
    """[(where, expr)] of the rules file (PyYAML, python3-yaml)."""
    import yaml
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return [("rule %s" % r["alert"], r["expr"])
            for g in doc["groups"] for r in g["rules"]]


# ------------------------------------------------------------- Prometheus

class Prometheus:
    """Debian's prometheus on a loopback port, a temp config and storage,
    scraping one target every second; stopped by pid."""

    def __init__(self, wd, target):
        self.port = harness.alloc_port()
        d = os.path.join(wd, "prometheus")
        os.makedirs(os.path.join(d, "data"))
        self.config = os.path.join(d, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: tgsidecar\n"
                    "    static_configs:\n      - targets: [\"%s\"]\n"
                    % (RULES, target))
        self.proc = harness.Proc(
            [PROMETHEUS, "--config.file=" + self.config,
             "--storage.tsdb.path=" + os.path.join(d, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--log.level=warn"], wd, "prometheus")

    def start(self):
        self.proc.start()
        # It listens before its storage is open: /-/ready says when.
        if not harness.wait_until(lambda: not self.proc.alive() or
                                  self._ready(), 30) or \
                not self.proc.alive():
            raise RuntimeError("prometheus did not get ready:\n" +
                               self.proc.stderr())
        return self

    def _ready(self):
        try:
            with OPENER.open("http://127.0.0.1:%d/-/ready" % self.port,
                             timeout=harness.patient(2)) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        return self.proc.stop(timeout=harness.patient(10))

    def api(self, path, **params):
        q = urllib.parse.urlencode(params, doseq=True)
        url = "http://127.0.0.1:%d/api/v1/%s%s" % (self.port, path,
                                                   "?" + q if q else "")
        with OPENER.open(url, timeout=harness.patient(10)) as r:
            return json.loads(r.read())

    def query(self, expr):
        """(status, result list, error) of an instant query."""
        try:
            o = self.api("query", query=expr)
        except urllib.error.HTTPError as e:
            # 400 and 422 carry the error in the API's JSON.
            try:
                o = json.loads(e.read())
            except ValueError:
                o = {"status": "error", "error": "HTTP %d" % e.code}
        return o["status"], o.get("data", {}).get("result", []), \
            o.get("error")

    def scalar(self, expr):
        st, res, _ = self.query(expr)
        return float(res[0]["value"][1]) if st == "success" and res else None


# ------------------------------------------------------------ the parts

def traffic(t, sc, si, tok):
    """What a bot does, and two failures: one stage each."""
    conn = sc.conn()
    try:
        codes = [request(conn, "GET", "/bot%s/getMe" % tok).status
                 for _ in range(5)]
        body, hdrs = harness.json_body({"chat_id": 1, "text": "hi"})
        codes.append(request(conn, "POST", "/bot%s/sendMessage" % tok,
                             body, hdrs).status)
        codes.append(request(conn, "GET", "/bot%s/getUpdates?timeout=0"
                             % tok).status)
        si.fault("sendMessage", "reset")
        codes.append(request(conn, "POST", "/bot%s/sendMessage" % tok,
                             body, hdrs).status)
        codes.append(request(conn, "GET", "/nothing-here").status)
    finally:
        conn.close()
    t.is_(codes, [200] * 7 + [502, 404], "traffic through (dead, squid): "
          "getMe x5, sendMessage, getUpdates 200; a reset send 502; a "
          "stray path 404")


def part_promtool(t):
    for argv, desc in (([PROMTOOL, "check", "rules", RULES],
                        "promtool check rules"),
                       ([PROMTOOL, "test", "rules", RULES_TEST],
                        "promtool test rules: each alert fires when it "
                        "should and only then"),
                       ([PROMTOOL, "check", "config", EXAMPLE_CONFIG],
                        "promtool check config on the example "
                        "prometheus.yml")):
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           cwd=os.path.dirname(RULES),
                           timeout=harness.patient(30))
        t.ok(p.returncode == 0 and "SUCCESS" in p.stdout, desc)
        if p.returncode != 0:
            t.diag(p.stdout)


def scraped_labels(prom, metric):
    """{label: {values}} over the series Prometheus holds for metric."""
    out = {}
    for s in prom.api("series", **{"match[]": metric})["data"]:
        for k, v in s.items():
            out.setdefault(k, set()).add(v)
    return out


def check_names(t, prom, queries, names, what):
    missing, bad_labels, bad_values, cache = [], [], [], {}
    for where, expr in queries:
        sels, groups = promql_names(expr)
        for metric, matchers in sels:
            if metric not in names:
                missing.append((where, metric))
                continue
            if metric not in cache:
                cache[metric] = scraped_labels(prom, metric)
            have = cache[metric]
            for label, op, value in matchers:
                if label not in have:
                    bad_labels.append((where, metric, label))
                elif op in ("=", "=~") and re.fullmatch(r"[\w|]+", value):
                    # A literal or a list of literals: each one was seen.
                    bad_values += [(where, metric, label, v)
                                   for v in value.split("|")
                                   if v not in have[label]]
        for labels, metrics in groups:
            known = [m for m in metrics if m in names]
            for m in known:
                if m not in cache:
                    cache[m] = scraped_labels(prom, m)
            bad_labels += [(where, known, label) for label in labels
                           if known and not any(label in cache[m]
                                                for m in known)]
    t.is_(missing, [], "%s: every metric named is in the scrape" % what)
    t.is_(bad_labels, [], "%s: every label matched or grouped by is on "
          "its metric" % what)
    t.is_(bad_values, [], "%s: every literal label value matched was "
          "scraped" % what)


def part_dashboard(t, prom, names, dash):
    ids = [p["id"] for p in dash["panels"]]
    t.ok(len(ids) == len(set(ids)), "dashboard: panel ids are unique")
    ds = {json.dumps(tg.get("datasource")) for p in dash["panels"]
          for tg in p.get("targets", [])}
    t.is_(ds, {json.dumps({"type": "prometheus", "uid": "${datasource}"})},
          "dashboard: every query uses the $datasource variable")
    titles = " / ".join(p["title"] for p in dash["panels"]).lower()
    t.is_([x for x in TOPICS if x.lower() not in titles], [],
          "dashboard: a panel for each of %s" % ", ".join(TOPICS))
    queries = dashboard_queries(dash)
    check_names(t, prom, queries, names, "dashboard")
    failed, empty = [], []
    for where, expr in queries:
        st, res, err = prom.query(expr)
        if st != "success":
            failed.append((where, err))
        elif not res:
            empty.append(where)
    t.is_(failed, [], "dashboard: all %d queries evaluate" % len(queries))
    t.is_(empty, [], "dashboard: every query returns series from the "
          "scraped sidecar")
    used = sorted({m for _, e in queries for m, _ in promql_names(e)[0]})
    t.diag("metrics the dashboard uses: %s" % ", ".join(used))
    unused = sorted(n for n in names if n.startswith("tgsidecar_") and
                    re.sub(r"_(bucket|sum|count)$", "", n) not in
                    {re.sub(r"_(bucket|sum|count)$", "", u) for u in used})
    if unused:
        t.diag("tgsidecar metrics with no panel: %s" % ", ".join(unused))


def part_rules(t, prom, names):
    queries = rules_queries()
    check_names(t, prom, queries, names, "alert rules")
    failed = [(w, err) for w, e in queries
              for st, _, err in [prom.query(e)] if st != "success"]
    t.is_(failed, [], "alert rules: all %d expressions evaluate" %
          len(queries))

    def loaded():
        rules = [r for g in prom.api("rules")["data"]["groups"]
                 for r in g["rules"]]
        return rules if rules and all(r.get("health") == "ok" and
                                      r.get("lastEvaluation", "").
                                      startswith("2") for r in rules) \
            else None
    harness.wait_until(loaded, 20)
    rules = loaded() or []
    t.is_(sorted(r["name"] for r in rules),
          sorted(w.split(" ", 1)[1] for w, _ in queries),
          "Prometheus loaded every rule and evaluated it without error")
    def firing():
        return {a["labels"]["alertname"] for a in
                prom.api("alerts")["data"]["alerts"]
                if a.get("state") == "firing"}
    harness.wait_until(lambda: "TgsidecarProxyFailingOver" in firing(), 20)
    firing = firing()
    t.ok("TgsidecarProxyFailingOver" in firing, "the dead proxy's failover "
         "makes TgsidecarProxyFailingOver fire (firing: %s)"
         % sorted(firing))
    t.ok(not firing & {"TgsidecarDown", "TgsidecarNotReady"},
         "a sidecar that serves and is ready raises neither "
         "TgsidecarDown nor TgsidecarNotReady")


def gauge(sc, path, name):
    r = sc.get(path)
    m = re.search(r"^%s (\S+)$" % name, r.body.decode(), re.M)
    return float(m.group(1)) if m else None


def part_ready_gauge(t, wd, si, certs, squid):
    """tgsidecar_ready follows what /readyz says, and a scrape never
    probes: unknown reads 1, a failed proxy 0, a working one 1 again."""
    dead = harness.closed_port()
    tok = token(harness.unique_secret("ready"))
    for proxy, want_ready, want_status, desc in (
            ("http://127.0.0.1:%d" % dead, 0, 503, "the only proxy is dead"),
            (squid.url, 1, 200, "squid works")):
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy=proxy, name="sidecar-ready-%d" % want_ready)
        sc.start()
        try:
            before = si.connections()
            t.is_([gauge(sc, "/metrics", "tgsidecar_ready")
                   for _ in range(3)], [1.0] * 3,
                  "%s: before any verdict, tgsidecar_ready is 1" % desc)
            # Only a working proxy lets a probe reach the stand-in; with
            # the dead one a count there could only see another part's
            # late connection (squid finishing a CONNECT after its
            # sidecar stopped, seen under ASan), never a probe of ours.
            if want_ready:
                t.is_(si.connections(), before, "%s: the scrapes opened "
                      "no connection to the Bot API (no probe)" % desc)
            st = sc.get("/bot%s/getMe" % tok).status
            t.is_((st, gauge(sc, "/metrics", "tgsidecar_ready"),
                   sc.get("/readyz").status),
                  (502 if want_ready == 0 else 200, want_ready, want_status),
                  "%s: getMe, then tgsidecar_ready and /readyz agree" % desc)
        finally:
            sc.stop()


def main():
    t = Tap()
    for b in (PROMETHEUS, PROMTOOL):
        if not os.access(b, os.X_OK):
            t.ok(False, "%s is installed (contrib/deps.sh --test installs "
                 "Debian's prometheus)" % b)
            return t.done()
    with open(DASHBOARD) as f:
        dash = json.load(f)
    part_promtool(t)
    wd = harness.make_tempdir()
    certs = Certs(wd)
    si = StandIn(wd, certs).start()
    squid = proxies.Squid(wd, [si.port])
    prom = sc = None
    try:
        squid.start()
        admin = harness.alloc_port()
        sc = Sidecar(wd, upstream=si.url, ca_file=certs.ca_cert,
                     proxy="http://127.0.0.1:%d,%s"
                     % (harness.closed_port(), squid.url),
                     extra_args=["--admin-listen", "127.0.0.1:%d" % admin])
        sc.start()
        if not harness.wait_port("127.0.0.1", admin, 10):
            raise RuntimeError("no admin_listen port")
        # Prometheus first, so that it sees the counters grow (increase()
        # over a counter born at 1 is 0).
        prom = Prometheus(wd, "127.0.0.1:%d" % admin).start()
        t.ok(harness.wait_until(
            lambda: prom.scalar('up{job="tgsidecar"}') == 1, 30),
            "Prometheus scrapes the sidecar's admin_listen /metrics")
        traffic(t, sc, si, token(harness.unique_secret("dash")))
        # Three scrapes after the traffic, so that rate() has samples.
        t.ok(harness.wait_until(
            lambda: (prom.scalar('count_over_time(tgsidecar_requests_total'
                                 '{class="send",status="502"}[1m])')
                     or 0) >= 3, 30),
            "Prometheus scraped the traffic's counters three times")
        names = set(prom.api("label/__name__/values")["data"])
        t.ok("tgsidecar_requests_total" in names and
             "process_resident_memory_bytes" in names,
             "the scrape holds the sidecar's families (%d names)" % len(names))
        for part, args in ((part_dashboard, (t, prom, names, dash)),
                           (part_rules, (t, prom, names)),
                           (part_ready_gauge, (t, wd, si, certs, squid))):
            try:
                part(*args)
            except Exception:
                t.fail_exception(part.__name__)
    except Exception:
        t.fail_exception("setup")
    finally:
        if prom is not None:
            st, killed = prom.stop()
            t.ok(not killed, "prometheus stopped on SIGTERM (exit %r)" % st)
        if sc is not None:
            sc.stop()
        squid.stop()
        si.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
