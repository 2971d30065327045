//! Every key helmfile 1.7 reads, per place (top level, `helmDefaults`, a release, a
//! `helmfiles:` entry, an environment, a repository, a hook), with what hfapply does
//! with it. The parser looks each key up here: an unknown key is an error naming the
//! nearest known key, a refused key is an error saying why, a noted key is accepted and
//! `lint` says how we differ. Nothing is dropped without a word.
//!
//! The lists follow helmfile v1.7.4's `pkg/state` structs (`HelmState`,
//! `ReleaseSetSpec`, `HelmSpec`, `ReleaseSpec`, `SubHelmfileSpec`, `EnvironmentSpec`,
//! `RepositorySpec`, `event.Hook`); `docs/migrating-from-helmfile.md` has the same table
//! and a test keeps the two equal.

/// What hfapply does with a helmfile key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Read and acted on as helmfile does; the text says how, briefly.
    Honoured(&'static str),
    /// Refused with a file:line error; the text says why and what to do.
    Refused(&'static str),
    /// Accepted, but hfapply differs from helmfile; `lint` prints the text.
    Different(&'static str),
}

/// One helmfile key and its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key as written in YAML.
    pub name: &'static str,
    /// What we do with it.
    pub status: KeyStatus,
}

/// A place where helmfile keys are written, with its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The top level of a helmfile.
    TopLevel,
    /// `helmDefaults:`.
    HelmDefaults,
    /// One entry of `releases:` (and a `templates:` entry merged into it).
    Release,
    /// One map entry of `helmfiles:`.
    SubHelmfile,
    /// `environments.<name>:`.
    Environment,
    /// One entry of `repositories:`.
    Repository,
    /// One entry of `hooks:` (top level or release).
    Hook,
}

impl Place {
    /// Every place, in the order the docs table lists them.
    pub const ALL: [Place; 7] = [
        Place::TopLevel,
        Place::HelmDefaults,
        Place::Release,
        Place::SubHelmfile,
        Place::Environment,
        Place::Repository,
        Place::Hook,
    ];

    /// The place's table.
    pub fn keys(self) -> &'static [Key] {
        match self {
            Place::TopLevel => TOP_LEVEL,
            Place::HelmDefaults => HELM_DEFAULTS,
            Place::Release => RELEASE,
            Place::SubHelmfile => SUB_HELMFILE,
            Place::Environment => ENVIRONMENT,
            Place::Repository => REPOSITORY,
            Place::Hook => HOOK,
        }
    }

    /// A heading for the docs table and messages.
    pub fn title(self) -> &'static str {
        match self {
            Place::TopLevel => "top level",
            Place::HelmDefaults => "helmDefaults",
            Place::Release => "releases[]",
            Place::SubHelmfile => "helmfiles[]",
            Place::Environment => "environments.<name>",
            Place::Repository => "repositories[]",
            Place::Hook => "hooks[]",
        }
    }

    /// The status of `name` here, or the nearest known key when it is unknown.
    pub fn lookup(self, name: &str) -> Result<&'static Key, Option<&'static str>> {
        let keys = self.keys();
        keys.iter()
            .find(|k| k.name == name)
            .ok_or_else(|| nearest(keys, name))
    }
}

/// The known key closest to `name` by edit distance (case-insensitive), when it is
/// close enough to be a likely typo.
fn nearest(keys: &'static [Key], name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    keys.iter()
        .map(|k| (distance(&k.name.to_ascii_lowercase(), &lower), k.name))
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

use KeyStatus::{Different as D, Honoured as H, Refused as R};

const fn k(name: &'static str, status: KeyStatus) -> Key {
    Key { name, status }
}

const TEMPLATES_ISSUE: &str =
    "needs template evaluation hfapply does not have yet; write the result as plain values";
const CHARTIFY: &str = "needs chartify/kustomize, which hfapply does not run; render the \
     patch into the chart or a raw manifest";
const TRACKING: &str = "kubedog rollout tracking is not run; helm's own --wait applies \
     (wait:, waitForJobs:)";

/// Top-level keys (`HelmState` and `ReleaseSetSpec`).
pub const TOP_LEVEL: &[Key] = &[
    k("releases", H("each release, in order")),
    k("repositories", H("registered with helm before a chart is used")),
    k("environments", H("names select themes; see environments.<name>")),
    k("helmfiles", D("sub-helmfiles are read in the order written, but their releases run in needs: order, in parallel across files, where helmfile runs one file after the other")),
    k("templates", H("used through YAML anchors, as in helmfile")),
    k("commonLabels", H("added to every release's labels, overriding them")),
    k("missingFileHandler", H("default of the releases' missingFileHandler for values: files (not secrets:, as helmfile)")),
    k("helmDefaults", H("defaults of the helm settings of every release")),
    k("hooks", H("file-level hooks: prepare before the file's releases, cleanup after them")),
    k("kubeContext", H("overrides every release's kubeContext")),
    k("namespace", H("overrides every release's namespace")),
    k("values", D("state values only reach templates; a template that reads them (.Values) is refused")),
    k("bases", R("bases are not supported yet; copy the base file's keys into this file")),
    k("helmBinary", R("hfapply runs the helm that runs it (HELM_BIN, or helm on PATH); remove helmBinary and set HELM_BIN")),
    k("kustomizeBinary", R("kustomize is not run (see jsonPatches); remove it")),
    k("chart", R("a file-wide chart override is not supported; set chart: on each release")),
    k("apiVersions", H("--api-versions for helm template (lint, diff)")),
    k("kubeVersion", H("--kube-version for helm template (lint, diff)")),
    k("missingFileHandlerConfig", D("ignoreMissingGitBranch concerns remote helmfiles, which are refused")),
    k("lockFilePath", D("the lock file is written by `helmfile deps`; hfapply reads chart versions from version:")),
    k("defaultInherit", R("release inheritance (inherit:) is not supported; use YAML anchors")),
    k("llm", D("helmfile's AI assistant settings; they change nothing that is installed")),
];

/// `helmDefaults:` keys (`HelmSpec`).
pub const HELM_DEFAULTS: &[Key] = &[
    k("kubeContext", H("--kube-context of releases without their own")),
    k("args", H("appended to every helm upgrade, template and uninstall")),
    k("syncArgs", H("appended to helm upgrade")),
    k("templateArgs", H("appended to helm template (lint, diff)")),
    k("diffArgs", D("helm-diff flags; hfapply's diff does not run helm-diff, so they have no effect")),
    k("verify", H("--verify")),
    k("keyring", H("--keyring")),
    k("enableDNS", H("--enable-dns")),
    k("skipSchemaValidation", H("--skip-schema-validation")),
    k("devel", H("--devel")),
    k("wait", H("--wait")),
    k("waitRetries", D("ignored, as helmfile 1.7 ignores it (kept there for old files)")),
    k("waitForJobs", H("--wait-for-jobs")),
    k("timeout", H("--timeout <n>s")),
    k("recreatePods", R("helm 3 and 4 have no --recreate-pods (helm would refuse the flag helmfile passes); remove it, or change a pod annotation to roll pods")),
    k("force", H("--force (helm 3), --force-replace (helm 4)")),
    k("atomic", H("--atomic (helm 3), --rollback-on-failure (helm 4)")),
    k("rollbackOnFailure", H("--rollback-on-failure (helm 4 only)")),
    k("cleanupOnFail", H("--cleanup-on-fail")),
    k("forceConflicts", H("--force-conflicts (helm 4 only)")),
    k("historyMax", H("--history-max (default 10)")),
    k("createNamespace", H("--create-namespace (default true)")),
    k("skipCRDs", H("--skip-crds")),
    k("skipDeps", D("hfapply never runs `helm dependency build`; vendor local charts' dependencies in charts/")),
    k("skipRefresh", D("hfapply refreshes a repository index only when a chart version is not in its cache")),
    k("reuseValues", H("--reuse-values instead of --reset-values")),
    k("postRenderer", H("--post-renderer")),
    k("postRendererArgs", H("--post-renderer-args, one per entry")),
    k("cascade", H("--cascade for helm uninstall")),
    k("suppressOutputLineRegex", D("applies to helm-diff output; hfapply's diff redacts and orders by itself")),
    k("disableAutoDetectedKubeVersionForDiff", D("helm-diff only; hfapply's diff renders with helm template's default Kubernetes version (set kubeVersion: to choose one)")),
    k("disableValidation", D("helm-diff --disable-validation; hfapply's diff renders with helm template, which does not validate against the cluster")),
    k("disableOpenAPIValidation", H("--disable-openapi-validation")),
    k("insecureSkipTLSVerify", H("--insecure-skip-tls-verify")),
    k("plainHttp", H("--plain-http")),
    k("deleteWait", H("--wait for helm uninstall")),
    k("deleteTimeout", H("--timeout <n>s for helm uninstall")),
    k("syncReleaseLabels", R("--labels from release labels is not supported yet; remove it")),
    k("takeOwnership", H("--take-ownership")),
    k("serverSide", R("helm 4 --server-side is not supported yet; remove it")),
    k("trackMode", D(TRACKING)),
    k("helmStuckGrace", D("a release stuck pending-* is reported; --recover-pending rolls it back")),
];

/// Release keys (`ReleaseSpec`).
pub const RELEASE: &[Key] = &[
    k("name", H("the release name")),
    k("namespace", H("--namespace")),
    k("chart", H("repo/chart, oci://, or a local directory")),
    k("directory", H("the same as chart: (a local directory)")),
    k("version", H("--version")),
    k("labels", H("for selectors (-l)")),
    k("needs", H("ordering: a release runs after the releases it needs")),
    k("installed", H("false uninstalls the release")),
    k("createNamespace", H("--create-namespace (default true)")),
    k("kubeContext", H("--kube-context")),
    k("values", H("files and inline maps, merged in order as helm merges -f")),
    k("secrets", H("sops files, decrypted in memory, after values")),
    k("missingFileHandler", H("Error (default), Warn, Info or Debug for missing values/secrets files")),
    k("missingFileHandlerConfig", D("ignoreMissingGitBranch concerns remote helmfiles, which are refused")),
    k("hooks", H("prepare, preapply, presync, postsync, preuninstall, postuninstall, cleanup")),
    k("description", H("--description")),
    k("set", H("--set name=value (value, values; file as --set-file)")),
    k("setString", H("--set-string name=value")),
    k("verify", H("--verify")),
    k("keyring", H("--keyring")),
    k("enableDNS", H("--enable-dns")),
    k("devel", H("--devel")),
    k("wait", H("--wait")),
    k("waitRetries", D("ignored, as helmfile 1.7 ignores it (kept there for old files)")),
    k("waitForJobs", H("--wait-for-jobs")),
    k("timeout", H("--timeout <n>s")),
    k("recreatePods", R("helm 3 and 4 have no --recreate-pods (helm would refuse the flag helmfile passes); remove it, or change a pod annotation to roll pods")),
    k("force", H("--force (helm 3), --force-replace (helm 4)")),
    k("atomic", H("--atomic (helm 3), --rollback-on-failure (helm 4)")),
    k("rollbackOnFailure", H("--rollback-on-failure (helm 4 only)")),
    k("cleanupOnFail", H("--cleanup-on-fail")),
    k("forceConflicts", H("--force-conflicts (helm 4 only)")),
    k("historyMax", H("--history-max (default 10)")),
    k("reuseValues", H("--reuse-values instead of --reset-values")),
    k("disableOpenAPIValidation", H("--disable-openapi-validation")),
    k("disableValidation", D("helm-diff --disable-validation; hfapply's diff renders with helm template, which does not validate against the cluster")),
    k("disableValidationOnInstall", D("as disableValidation, for a first install")),
    k("skipDeps", D("hfapply never runs `helm dependency build`; vendor local charts' dependencies in charts/")),
    k("skipRefresh", D("hfapply refreshes a repository index only when a chart version is not in its cache")),
    k("postRenderer", H("--post-renderer")),
    k("postRendererArgs", H("--post-renderer-args, one per entry")),
    k("skipSchemaValidation", H("--skip-schema-validation")),
    k("cascade", H("--cascade for helm uninstall")),
    k("deleteWait", H("--wait for helm uninstall")),
    k("deleteTimeout", H("--timeout <n>s for helm uninstall")),
    k("takeOwnership", H("--take-ownership")),
    k("insecureSkipTLSVerify", H("--insecure-skip-tls-verify")),
    k("plainHttp", H("--plain-http")),
    k("apiVersions", H("--api-versions for helm template (lint, diff)")),
    k("kubeVersion", H("--kube-version for helm template (lint, diff)")),
    k("suppressOutputLineRegex", D("applies to helm-diff output; hfapply's diff redacts and orders by itself")),
    k("suppressDiff", D("hfapply's diff shows every change, with secrets redacted")),
    k("disableAutoDetectedKubeVersionForDiff", D("helm-diff only; hfapply's diff renders with helm template's default Kubernetes version (set kubeVersion: to choose one)")),
    k("unitTests", D("helm-unittest runs only in `helmfile unittest`")),
    k("updateStrategy", R("reinstallIfForbidden is not supported; remove it")),
    k("condition", R(TEMPLATES_ISSUE)),
    k("valuesTemplate", R(TEMPLATES_ISSUE)),
    k("setTemplate", R(TEMPLATES_ISSUE)),
    k("verifyTemplate", R(TEMPLATES_ISSUE)),
    k("waitTemplate", R(TEMPLATES_ISSUE)),
    k("installedTemplate", R(TEMPLATES_ISSUE)),
    k("conditionTemplate", R(TEMPLATES_ISSUE)),
    k("env", R("values from the environment are not read; write them in a values file")),
    k("valuesPathPrefix", R("not supported; write the full paths")),
    k("inherit", R("release inheritance is not supported; use YAML anchors (<<: *template)")),
    k("dependencies", R(CHARTIFY)),
    k("jsonPatches", R(CHARTIFY)),
    k("strategicMergePatches", R(CHARTIFY)),
    k("transformers", R(CHARTIFY)),
    k("adopt", R(CHARTIFY)),
    k("forceGoGetter", R("remote charts through go-getter are not supported; use a chart repository")),
    k("forceNamespace", R(CHARTIFY)),
    k("chartPath", R("an internal helmfile field; remove it")),
    k("syncReleaseLabels", R("--labels from release labels is not supported yet; remove it")),
    k("serverSide", R("helm 4 --server-side is not supported yet; remove it")),
    k("trackMode", D(TRACKING)),
    k("trackTimeout", D(TRACKING)),
    k("trackLogs", D(TRACKING)),
    k("trackFailedLogs", D(TRACKING)),
    k("trackKinds", D(TRACKING)),
    k("skipKinds", D(TRACKING)),
    k("trackResources", D(TRACKING)),
    k("kubedogQPS", D(TRACKING)),
    k("kubedogBurst", D(TRACKING)),
    k("trackFailOnError", D(TRACKING)),
    k("helmStuckGrace", D("a release stuck pending-* is reported; --recover-pending rolls it back")),
];

/// Keys of a `helmfiles:` map entry (`SubHelmfileSpec`).
pub const SUB_HELMFILE: &[Key] = &[
    k("path", H("a path or glob relative to this file")),
    k(
        "selectors",
        H("replace the command line's selectors for that file"),
    ),
    k(
        "selectorsInherited",
        H("the command line's selectors apply"),
    ),
    k(
        "values",
        D("state values only reach templates; a template that reads them (.Values) is refused"),
    ),
];

/// Keys of an environment (`EnvironmentSpec`).
pub const ENVIRONMENT: &[Key] = &[
    k("values", D("state values only reach templates; a template that reads them (.Values) is refused")),
    k("secrets", D("state secrets only reach templates; a template that reads them (.Values) is refused")),
    k("kubeContext", R("an environment's kubeContext is not supported yet; set helmDefaults.kubeContext or pass --context")),
    k("missingFileHandler", D("applies to environment values files, which are not read")),
    k("missingFileHandlerConfig", D("ignoreMissingGitBranch concerns remote helmfiles, which are refused")),
    k("mergeStrategy", D("applies to environment values, which are not read")),
];

/// Keys of a repository (`RepositorySpec`).
pub const REPOSITORY: &[Key] = &[
    k("name", H("the name charts are referred by")),
    k("url", H("the repository URL")),
    k("oci", H("an OCI registry: charts are pulled as oci://url/chart")),
    k("caFile", R("repository TLS files are not passed yet; add the CA to the system store")),
    k("certFile", R("repository TLS files are not passed yet; remove it")),
    k("keyFile", R("repository TLS files are not passed yet; remove it")),
    k("username", R("repository credentials are not passed yet; use helm registry login / a helm repo config")),
    k("password", R("repository credentials are not passed yet; use helm registry login / a helm repo config")),
    k("registryConfig", R("not passed yet; remove it")),
    k("managed", R("managed repositories are not supported; remove it")),
    k("verify", R("repository-level verify is not supported; set verify: on the releases")),
    k("keyring", R("repository-level keyring is not supported; set keyring: on the releases")),
    k("passCredentials", R("repository credentials are not passed yet; remove it")),
    k("skipTLSVerify", R("not passed yet; remove it")),
    k("plainHttp", R("not passed yet; set plainHttp: on the releases")),
];

/// Keys of a hook (`event.Hook`).
pub const HOOK: &[Key] = &[
    k("name", H("shown in progress lines")),
    k(
        "events",
        H("the events it runs on, matched case-sensitively"),
    ),
    k("command", H("run in the helmfile's directory, no shell")),
    k(
        "args",
        H("templated with .Event.Name, .Environment.Name, .Release.*"),
    ),
    k("showlogs", H("print its output, prefixed with the release")),
    k(
        "kubectlApply",
        R("kubectlApply hooks are not supported; put the manifests in values/<release>/raw/"),
    ),
];

/// The docs table (`docs/migrating-from-helmfile.md`, between the `keys-table`
/// markers): one section per place, one row per key.
pub fn markdown_table() -> String {
    let mut out = String::new();
    for place in Place::ALL {
        out.push_str(&format!(
            "\n#### `{}`\n\n| key | status | how / why |\n|---|---|---|\n",
            place.title()
        ));
        for key in place.keys() {
            let (status, text) = match key.status {
                KeyStatus::Honoured(t) => ("honoured", t),
                KeyStatus::Refused(t) => ("refused", t),
                KeyStatus::Different(t) => ("different", t),
            };
            out.push_str(&format!(
                "| `{}` | {status} | {} |\n",
                key.name,
                text.replace('|', "\\|")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_twice_in_a_place() {
        for place in Place::ALL {
            let mut names: Vec<_> = place.keys().iter().map(|k| k.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{}", place.title());
        }
    }

    #[test]
    fn a_typo_finds_its_key_and_nonsense_finds_none() {
        assert_eq!(Place::Release.lookup("wiat").unwrap_err(), Some("wait"));
        assert_eq!(
            Place::Release.lookup("tiemout").unwrap_err(),
            Some("timeout")
        );
        assert_eq!(
            Place::TopLevel.lookup("helmDefault").unwrap_err(),
            Some("helmDefaults")
        );
        assert_eq!(Place::Release.lookup("zzzzzzzzzzzz").unwrap_err(), None);
        assert!(Place::Release.lookup("wait").is_ok());
    }
}
