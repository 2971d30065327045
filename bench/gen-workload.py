#!/usr/bin/env python3
"""Generates a helmfile-shaped repository of N releases for bench/run.sh.

Usage: gen-workload.py N OUTDIR

Layout (what hfapply and helmfile both read):
  helmfile.yaml                       master: every theme
  charts/{small,medium,large}         local charts with 5, 10, 20 templates
  helmfiles/<theme>/helmfile.yaml     5 releases per theme, the 2nd..5th `needs` the 1st
  helmfiles/<theme>/values/{common,default}.yaml                     2 plain theme layers
  helmfiles/<theme>/values/<rel>/{common,default}.yaml               2 plain release layers
  helmfiles/<theme>/values/<rel>/{common,default}.secrets.yaml       2 sops (age) layers
  helmfiles/<theme>/values/<rel>/raw/*.pre.yaml, *.secrets.post.yaml every 5th release

Helmfile-only wiring (hfapply refuses release `hooks:`, so helmfile gets its own copy
of each theme file, identical releases plus presync/postsync hooks applying the raw
manifests with kubectl, decrypting with sops):
  helmfile.helmfile.yaml, helmfiles/<theme>/helmfile.helmfile.yaml.gotmpl (.gotmpl: helmfile v1
  renders only those, and the layer paths are written in the escaped form)

Secrets layers are written in plaintext here; bench/run.sh encrypts them with sops.
Names carry N (n50-t03, n50-r017) so repositories of several N share one cluster.
For N >= 100 the Services are headless (clusterIP: None): the dev cluster's service range
(10.0.0.0/24) holds 254 ClusterIPs, and N=200 needs ~470 Services.
"""
import os
import sys

N = int(sys.argv[1])
OUT = sys.argv[2]
PER_THEME = 5
P = f"n{N}"


def write(path, text):
    path = os.path.join(OUT, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# --- charts: each template a small object using values from every layer -------------
KINDS = {
    "configmap": """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{{{ .Release.Name }}}}-cm{i}
  labels: {{{{ toYaml .Values.labels | nindent 4 }}}}
data:
  tier: {{{{ .Values.tier | quote }}}}
  replicas: {{{{ .Values.replicas | quote }}}}
{{{{- range $k, $v := .Values.config }}}}
  {{{{ $k }}}}: {{{{ $v | quote }}}}
{{{{- end }}}}
""",
    "secret": """apiVersion: v1
kind: Secret
metadata:
  name: {{{{ .Release.Name }}}}-secret{i}
type: Opaque
stringData:
  password: {{{{ .Values.secret.password | quote }}}}
  token: {{{{ .Values.secret.token | quote }}}}
""",
    "service": """apiVersion: v1
kind: Service
metadata:
  name: {{{{ .Release.Name }}}}-svc{i}
spec:
  {HEADLESS}selector:
    app.kubernetes.io/instance: {{{{ .Release.Name }}}}
  ports:
    - name: http
      port: {{{{ add .Values.port {i} }}}}
""",
    "serviceaccount": """apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{{{ .Release.Name }}}}-sa{i}
  annotations:
    bench/owner: {{{{ .Values.owner | quote }}}}
""",
    "deployment": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ .Release.Name }}}}-app{i}
spec:
  replicas: {{{{ .Values.replicas }}}}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{{{ .Release.Name }}}}
      bench/component: app{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{{{ .Release.Name }}}}
        bench/component: app{i}
    spec:
      serviceAccountName: {{{{ .Release.Name }}}}-sa{i}
      containers:
        - name: app
          image: "{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}"
          resources: {{{{ toYaml .Values.resources | nindent 12 }}}}
          envFrom:
            - configMapRef:
                name: {{{{ .Release.Name }}}}-cm{i}
""",
}
ORDER = ["configmap", "secret", "service", "serviceaccount", "deployment"]
CHARTS = {"small": 5, "medium": 10, "large": 20}
for chart, ntpl in CHARTS.items():
    write(f"charts/{chart}/Chart.yaml",
          f"apiVersion: v2\nname: {chart}\nversion: 1.0.0\nappVersion: \"1.0\"\n")
    write(f"charts/{chart}/values.yaml", """replicas: 1
tier: default
owner: nobody
port: 8000
labels: {}
config: {}
image: {repository: registry.local/app, tag: "1.0"}
resources: {requests: {cpu: 10m, memory: 16Mi}}
secret: {password: unset, token: unset}
""")
    for t in range(ntpl):
        kind = ORDER[t % len(ORDER)]
        text = KINDS[kind].replace("{HEADLESS}", "clusterIP: None\n  " if N >= 100 else "")
        write(f"charts/{chart}/templates/{kind}-{t}.yaml", text.format(i=t))

# --- themes ---------------------------------------------------------------------------
LAYERS = """    values:
    - values/common.yaml
    - values/{{`{{ .Environment.Name }}`}}.yaml
    - values/{{`{{ .Release.Name }}`}}/common.yaml
    - values/{{`{{ .Release.Name }}`}}/{{`{{ .Environment.Name }}`}}.yaml
    secrets:
    - values/{{`{{ .Release.Name }}`}}/common.secrets.yaml
    - values/{{`{{ .Release.Name }}`}}/{{`{{ .Environment.Name }}`}}.secrets.yaml
"""
themes = []
r = 0
for t in range((N + PER_THEME - 1) // PER_THEME):
    theme = f"{P}-t{t:02d}"
    themes.append(theme)
    rels, hooked = [], []
    for k in range(min(PER_THEME, N - r)):
        name = f"{P}-r{r:03d}"
        chart = list(CHARTS)[r % 3]
        needs = "" if k == 0 else f"  needs:\n  - {rels[0][0]}\n"
        raw = r % 5 == 0
        rels.append((name, chart, needs, raw))
        base = f"helmfiles/{theme}/values/{name}"
        write(f"{base}/common.yaml",
              f"owner: team-{t}\nlabels:\n  app.kubernetes.io/part-of: {theme}\n"
              f"config:\n  LOG_LEVEL: info\n  RELEASE: {name}\n  FEATURE_A: \"on\"\n")
        write(f"{base}/default.yaml", "replicas: 2\nconfig:\n  BENCH_CHANGE: \"0\"\n")
        write(f"{base}/common.secrets.yaml", f"secret:\n  password: pw-{name}-common\n")
        write(f"{base}/default.secrets.yaml", f"secret:\n  token: tok-{name}-default\n")
        if raw:
            write(f"{base}/raw/settings.pre.yaml",
                  f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-raw-pre\n"
                  f"data:\n  phase: pre\n  release: {name}\n")
            write(f"{base}/raw/creds.secrets.post.yaml",
                  f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-raw-post\n"
                  f"type: Opaque\nstringData:\n  apiKey: key-{name}\n")
        r += 1
    write(f"helmfiles/{theme}/values/common.yaml",
          f"tier: {theme}\nconfig:\n  THEME: {theme}\n  REGION: eu-west\n")
    write(f"helmfiles/{theme}/values/default.yaml", "image:\n  tag: \"1.2\"\n")

    def helmfile(hooks):
        out = ["environments:\n  default: {}\n---\ntemplates:\n  default: &default\n"
               f"    namespace: {theme}\n    createNamespace: true\n" + LAYERS + "\nreleases:\n"]
        for name, chart, needs, raw in rels:
            out.append(f"- name: {name}\n  chart: ../../charts/{chart}\n  version: 1.0.0\n"
                       f"  labels:\n    chart: {chart}\n{needs}  <<: *default\n")
            if hooks and raw:
                d = f"values/{name}/raw"
                out.append(
                    "  hooks:\n"
                    "  - events: [presync]\n    showlogs: false\n    command: bash\n"
                    f"    args: [-c, 'kubectl create ns {theme} --dry-run=client -o yaml | kubectl apply -f - >/dev/null"
                    f" && kubectl apply --server-side --field-manager=helmfile-raw -n {theme} -f {d}/settings.pre.yaml >/dev/null']\n"
                    "  - events: [postsync]\n    showlogs: false\n    command: bash\n"
                    f"    args: [-c, 'sops -d {d}/creds.secrets.post.yaml | kubectl apply --server-side"
                    f" --field-manager=helmfile-raw -n {theme} -f - >/dev/null']\n")
            out.append("\n")
        return "".join(out)

    write(f"helmfiles/{theme}/helmfile.yaml", helmfile(False))
    write(f"helmfiles/{theme}/helmfile.helmfile.yaml.gotmpl", helmfile(True))

for suffix in ("", ".helmfile"):
    write(f"helmfile{suffix}.yaml", "helmfiles:\n" + "".join(
        f"  - path: helmfiles/{t}/helmfile{suffix}.yaml{'.gotmpl' if suffix else ''}\n" for t in themes))
