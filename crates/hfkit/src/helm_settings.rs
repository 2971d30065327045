//! The helm settings of a helmfile release (`helmDefaults:` and the release's own keys)
//! and the one table that turns them into helm flags, in the order helmfile v1.7.4
//! passes them (`pkg/state/state.go` `flagsForUpgrade`, `flagsForTemplate`,
//! `pkg/helmexec/exec.go` `SyncRelease`, `DeleteRelease`).
//!
//! A release's setting overrides `helmDefaults`' (`HelmSettings::over`); a key unset
//! in both takes helmfile's default (`createNamespace: true`, `historyMax: 10`).

/// One `set:` / `setString:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetValue {
    /// The key path (`image.tag`), as written.
    pub name: String,
    /// What it sets.
    pub value: SetKind,
    /// `setString:` rather than `set:`.
    pub string: bool,
}

/// The value of a `set:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetKind {
    /// `value: x`.
    Value(String),
    /// `values: [a, b]`: a list.
    Values(Vec<String>),
    /// `file: path`, as an absolute path (`--set-file`).
    File(String),
}

/// helm settings as written; `None` is unset (the other level or helmfile's default
/// decides).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelmSettings {
    /// `wait:`.
    pub wait: Option<bool>,
    /// `waitForJobs:`.
    pub wait_for_jobs: Option<bool>,
    /// `timeout:` in seconds.
    pub timeout: Option<u64>,
    /// `recreatePods:`.
    pub recreate_pods: Option<bool>,
    /// `force:`.
    pub force: Option<bool>,
    /// `forceConflicts:` (helm 4).
    pub force_conflicts: Option<bool>,
    /// `atomic:`.
    pub atomic: Option<bool>,
    /// `rollbackOnFailure:` (helm 4).
    pub rollback_on_failure: Option<bool>,
    /// `cleanupOnFail:`.
    pub cleanup_on_fail: Option<bool>,
    /// `createNamespace:`.
    pub create_namespace: Option<bool>,
    /// `disableOpenAPIValidation:`.
    pub disable_openapi_validation: Option<bool>,
    /// `skipSchemaValidation:`.
    pub skip_schema_validation: Option<bool>,
    /// `historyMax:`.
    pub history_max: Option<u64>,
    /// `devel:`.
    pub devel: Option<bool>,
    /// `verify:`.
    pub verify: Option<bool>,
    /// `keyring:`.
    pub keyring: Option<String>,
    /// `enableDNS:`.
    pub enable_dns: Option<bool>,
    /// `reuseValues:`.
    pub reuse_values: Option<bool>,
    /// `skipCRDs:`.
    pub skip_crds: Option<bool>,
    /// `postRenderer:`.
    pub post_renderer: Option<String>,
    /// `postRendererArgs:`.
    pub post_renderer_args: Option<Vec<String>>,
    /// `cascade:` (helm uninstall).
    pub cascade: Option<String>,
    /// `deleteWait:` (helm uninstall).
    pub delete_wait: Option<bool>,
    /// `deleteTimeout:` in seconds (helm uninstall).
    pub delete_timeout: Option<u64>,
    /// `takeOwnership:`.
    pub take_ownership: Option<bool>,
    /// `insecureSkipTLSVerify:`.
    pub insecure_skip_tls_verify: Option<bool>,
    /// `plainHttp:`.
    pub plain_http: Option<bool>,
    /// `description:` (release only).
    pub description: Option<String>,
    /// `apiVersions:` (helm template).
    pub api_versions: Option<Vec<String>>,
    /// `kubeVersion:` (helm template).
    pub kube_version: Option<String>,
    /// `args:` (helmDefaults only): appended to every helm command.
    pub args: Vec<String>,
    /// `syncArgs:` (helmDefaults only): appended to helm upgrade.
    pub sync_args: Vec<String>,
    /// `templateArgs:` (helmDefaults only): appended to helm template.
    pub template_args: Vec<String>,
    /// `set:` and `setString:` (release only), `set` entries first as helmfile passes
    /// them.
    pub set: Vec<SetValue>,
}

/// A combination helm or helmfile refuses, found before helm runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl HelmSettings {
    /// `self` (a release's settings) over `defaults` (`helmDefaults`): each setting the
    /// release sets wins. `args`, `syncArgs` and `templateArgs` exist only in
    /// `helmDefaults`; `set` only in releases.
    pub fn over(&self, defaults: &HelmSettings) -> HelmSettings {
        let mut out = self.over_plain(defaults);
        // helmfile ORs these (a release's false cannot turn off a default's true) ...
        let or = |a: Option<bool>, b: Option<bool>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(false) || b.unwrap_or(false)),
        };
        out.skip_schema_validation =
            or(self.skip_schema_validation, defaults.skip_schema_validation);
        out.take_ownership = or(self.take_ownership, defaults.take_ownership);
        out.plain_http = or(self.plain_http, defaults.plain_http);
        out.insecure_skip_tls_verify = or(
            self.insecure_skip_tls_verify,
            defaults.insecure_skip_tls_verify,
        );
        // ... and takes the default's post-renderer and keyring when the release's is
        // empty.
        let non_empty = |a: &Option<String>, b: &Option<String>| {
            a.clone().filter(|v| !v.is_empty()).or_else(|| b.clone())
        };
        out.post_renderer = non_empty(&self.post_renderer, &defaults.post_renderer);
        out.keyring = non_empty(&self.keyring, &defaults.keyring);
        out.post_renderer_args = self
            .post_renderer_args
            .clone()
            .filter(|a| !a.is_empty())
            .or_else(|| defaults.post_renderer_args.clone());
        // helmfile passes every set: entry, then every setString: entry.
        out.set.sort_by_key(|s| s.string);
        out
    }

    fn over_plain(&self, defaults: &HelmSettings) -> HelmSettings {
        macro_rules! pick {
            ($($f:ident),*) => {
                HelmSettings {
                    $($f: self.$f.clone().or_else(|| defaults.$f.clone()),)*
                    args: defaults.args.clone(),
                    sync_args: defaults.sync_args.clone(),
                    template_args: defaults.template_args.clone(),
                    set: self.set.clone(),
                }
            };
        }
        pick!(
            wait,
            wait_for_jobs,
            timeout,
            recreate_pods,
            force,
            force_conflicts,
            atomic,
            rollback_on_failure,
            cleanup_on_fail,
            create_namespace,
            disable_openapi_validation,
            skip_schema_validation,
            history_max,
            devel,
            verify,
            keyring,
            enable_dns,
            reuse_values,
            skip_crds,
            post_renderer,
            post_renderer_args,
            cascade,
            delete_wait,
            delete_timeout,
            take_ownership,
            insecure_skip_tls_verify,
            plain_http,
            description,
            api_versions,
            kube_version
        )
    }

    /// `createNamespace`, helmfile's default true.
    pub fn creates_namespace(&self) -> bool {
        self.create_namespace.unwrap_or(true)
    }

    /// Whether the flags depend on helm's major version (`force`, `atomic`,
    /// `forceConflicts`, `rollbackOnFailure`); when not, nobody needs to ask helm.
    pub fn depends_on_helm_version(&self) -> bool {
        [
            self.force,
            self.atomic,
            self.force_conflicts,
            self.rollback_on_failure,
        ]
        .iter()
        .any(|v| v.unwrap_or(false))
    }

    /// A canonical text of every setting, for the release fingerprint (changing
    /// `timeout` is a change).
    pub fn fingerprint_text(&self) -> String {
        format!("{self:?}")
    }

    /// Flags for `helm upgrade --install` after the chart, the version, the namespace
    /// and the values (those are the caller's), in helmfile's order. `oci` says the
    /// chart is an OCI reference (helmfile verifies only other charts).
    pub fn upgrade_flags(&self, helm_major: u32, oci: bool) -> Result<Vec<String>, SettingsError> {
        let helm4 = helm_major >= 4;
        let on = |v: Option<bool>| v.unwrap_or(false);
        let mut f: Vec<String> = Vec::new();
        if on(self.devel) {
            f.push("--devel".into());
        }
        if on(self.enable_dns) {
            f.push("--enable-dns".into());
        }
        if on(self.wait) {
            f.push("--wait".into());
        }
        if on(self.wait_for_jobs) {
            f.push("--wait-for-jobs".into());
        }
        if !oci {
            if on(self.verify) {
                f.push("--verify".into());
            }
            if let Some(k) = &self.keyring {
                f.extend(["--keyring".into(), k.clone()]);
            }
        }
        if let Some(t) = self.timeout.filter(|t| *t != 0) {
            f.extend(["--timeout".into(), format!("{t}s")]);
        }
        let force = on(self.force);
        let conflicts = on(self.force_conflicts);
        if conflicts && !helm4 {
            return Err(SettingsError(
                "forceConflicts requires helm 4 (set by the release or helmDefaults)".into(),
            ));
        }
        if force && conflicts {
            return Err(SettingsError(
                "force and forceConflicts are mutually exclusive; keep one".into(),
            ));
        }
        if force {
            f.push(if helm4 { "--force-replace" } else { "--force" }.into());
        }
        if conflicts {
            f.push("--force-conflicts".into());
        }
        if on(self.recreate_pods) {
            f.push("--recreate-pods".into());
        }
        let atomic = on(self.atomic);
        let rollback = on(self.rollback_on_failure);
        if atomic && rollback {
            return Err(SettingsError(
                "atomic and rollbackOnFailure are mutually exclusive; keep one".into(),
            ));
        }
        if rollback && !helm4 {
            return Err(SettingsError(
                "rollbackOnFailure requires helm 4; use atomic: with helm 3".into(),
            ));
        }
        if atomic && !helm4 {
            f.push("--atomic".into());
        } else if atomic || rollback {
            f.push("--rollback-on-failure".into());
        }
        if on(self.cleanup_on_fail) {
            f.push("--cleanup-on-fail".into());
        }
        if self.creates_namespace() {
            f.push("--create-namespace".into());
        }
        if on(self.disable_openapi_validation) {
            f.push("--disable-openapi-validation".into());
        }
        self.chart_download_flags(&mut f);
        self.post_renderer_flags(&mut f);
        if let Some(d) = &self.description {
            f.extend(["--description".into(), d.clone()]);
        }
        if on(self.skip_schema_validation) {
            f.push("--skip-schema-validation".into());
        }
        if on(self.take_ownership) {
            f.push("--take-ownership".into());
        }
        f.extend(self.sync_args.iter().cloned());
        f.extend(self.set_flags());
        if on(self.skip_crds) {
            f.push("--skip-crds".into());
        }
        f.push(
            if on(self.reuse_values) {
                "--reuse-values"
            } else {
                "--reset-values"
            }
            .into(),
        );
        f.extend([
            "--history-max".into(),
            self.history_max.unwrap_or(10).to_string(),
        ]);
        f.extend(self.args.iter().cloned());
        Ok(f)
    }

    /// Flags for `helm template` (lint and diff render) after the chart, the version
    /// and the namespace, in helmfile's order.
    pub fn template_flags(&self) -> Vec<String> {
        let on = |v: Option<bool>| v.unwrap_or(false);
        let mut f: Vec<String> = Vec::new();
        if on(self.devel) {
            f.push("--devel".into());
        }
        if on(self.enable_dns) {
            f.push("--enable-dns".into());
        }
        self.post_renderer_flags(&mut f);
        for v in self.api_versions.iter().flatten() {
            f.extend(["--api-versions".into(), v.clone()]);
        }
        if let Some(v) = &self.kube_version {
            f.extend(["--kube-version".into(), v.clone()]);
        }
        self.chart_download_flags(&mut f);
        if on(self.skip_schema_validation) {
            f.push("--skip-schema-validation".into());
        }
        f.extend(self.template_args.iter().cloned());
        f.extend(self.set_flags());
        f.extend(self.args.iter().cloned());
        f
    }

    /// helmfile's `appendChartDownloadFlags`: `--plain-http` wins, as helm's
    /// `--insecure-skip-tls-verify` would turn TLS back on.
    fn chart_download_flags(&self, f: &mut Vec<String>) {
        if self.plain_http.unwrap_or(false) {
            f.push("--plain-http".into());
        } else if self.insecure_skip_tls_verify.unwrap_or(false) {
            f.push("--insecure-skip-tls-verify".into());
        }
    }

    /// Flags for `helm uninstall` after the name and namespace.
    pub fn uninstall_flags(&self) -> Vec<String> {
        let mut f: Vec<String> = Vec::new();
        // As helmfile: deleteTimeout only together with deleteWait.
        if self.delete_wait.unwrap_or(false) {
            f.push("--wait".into());
            if let Some(t) = self.delete_timeout.filter(|t| *t != 0) {
                f.extend(["--timeout".into(), format!("{t}s")]);
            }
        }
        if let Some(c) = &self.cascade {
            f.push(format!("--cascade={c}"));
        }
        f.extend(self.args.iter().cloned());
        f
    }

    fn post_renderer_flags(&self, f: &mut Vec<String>) {
        if let Some(p) = self.post_renderer.as_ref().filter(|p| !p.is_empty()) {
            f.extend(["--post-renderer".into(), p.clone()]);
        }
        for a in self.post_renderer_args.iter().flatten() {
            f.push(format!("--post-renderer-args={a}"));
        }
    }

    /// `--set` / `--set-string` / `--set-file`, escaped as helmfile escapes them
    /// (`{`, `}` and `,` get a backslash).
    fn set_flags(&self) -> Vec<String> {
        let mut f = Vec::new();
        for s in &self.set {
            let name = escape(&s.name);
            let (flag, arg) = match &s.value {
                SetKind::Value(v) => (
                    if s.string { "--set-string" } else { "--set" },
                    format!("{name}={}", escape(v)),
                ),
                SetKind::Values(vs) => (
                    if s.string { "--set-string" } else { "--set" },
                    format!(
                        "{name}={{{}}}",
                        vs.iter().map(|v| escape(v)).collect::<Vec<_>>().join(",")
                    ),
                ),
                SetKind::File(p) => ("--set-file", format!("{name}={p}")),
            };
            f.extend([flag.to_string(), arg]);
        }
        f
    }
}

fn escape(value: &str) -> String {
    value
        .replace('{', "\\{")
        .replace('}', "\\}")
        .replace(',', "\\,")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_setting_overrides_the_default_and_unset_keeps_it() {
        let defaults = HelmSettings {
            wait: Some(true),
            force: Some(true),
            timeout: Some(300),
            args: vec!["--debug".into()],
            ..HelmSettings::default()
        };
        let release = HelmSettings {
            wait: Some(false),
            timeout: Some(600),
            ..HelmSettings::default()
        };
        let s = release.over(&defaults);
        assert_eq!(s.wait, Some(false));
        assert_eq!(s.force, Some(true));
        assert_eq!(s.timeout, Some(600));
        assert_eq!(s.args, ["--debug"]);
    }

    #[test]
    fn helmfile_ors_some_keys_and_skips_empty_strings() {
        let defaults = HelmSettings {
            take_ownership: Some(true),
            plain_http: Some(true),
            post_renderer: Some("./pr.sh".into()),
            ..HelmSettings::default()
        };
        let release = HelmSettings {
            take_ownership: Some(false),
            insecure_skip_tls_verify: Some(true),
            post_renderer: Some(String::new()),
            ..HelmSettings::default()
        };
        let s = release.over(&defaults);
        assert_eq!(s.take_ownership, Some(true));
        assert_eq!(s.post_renderer.as_deref(), Some("./pr.sh"));
        let f = s.template_flags();
        assert!(f.contains(&"--plain-http".to_string()), "{f:?}");
        assert!(
            !f.contains(&"--insecure-skip-tls-verify".to_string()),
            "{f:?}"
        );
    }

    #[test]
    fn helm_3_and_4_get_their_own_spelling_of_force_and_atomic() {
        let s = HelmSettings {
            force: Some(true),
            atomic: Some(true),
            ..HelmSettings::default()
        };
        let h3 = s.upgrade_flags(3, false).unwrap();
        assert!(h3.contains(&"--force".to_string()) && h3.contains(&"--atomic".to_string()));
        let h4 = s.upgrade_flags(4, false).unwrap();
        assert!(h4.contains(&"--force-replace".to_string()));
        assert!(h4.contains(&"--rollback-on-failure".to_string()));
        assert!(!h4.contains(&"--atomic".to_string()));
    }

    #[test]
    fn defaults_are_helmfiles() {
        let f = HelmSettings::default().upgrade_flags(3, false).unwrap();
        assert_eq!(
            f,
            [
                "--create-namespace",
                "--reset-values",
                "--history-max",
                "10"
            ]
        );
    }

    #[test]
    fn refused_combinations() {
        let both = HelmSettings {
            force: Some(true),
            force_conflicts: Some(true),
            ..HelmSettings::default()
        };
        assert!(both.upgrade_flags(4, false).is_err());
        let conflicts = HelmSettings {
            force_conflicts: Some(true),
            ..HelmSettings::default()
        };
        assert!(conflicts.upgrade_flags(3, false).is_err());
    }

    #[test]
    fn set_values_are_escaped_as_helmfile_does() {
        let s = HelmSettings {
            set: vec![
                SetValue {
                    name: "a.b".into(),
                    value: SetKind::Value("x,y{z}".into()),
                    string: false,
                },
                SetValue {
                    name: "list".into(),
                    value: SetKind::Values(vec!["1".into(), "2".into()]),
                    string: true,
                },
            ],
            ..HelmSettings::default()
        };
        let f = s.template_flags();
        assert_eq!(
            f,
            ["--set", "a.b=x\\,y\\{z\\}", "--set-string", "list={1,2}"]
        );
    }
}
