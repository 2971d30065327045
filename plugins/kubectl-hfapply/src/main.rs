//! `kubectl-hfapply`: not implemented yet; its issue fills it in.

fn main() {
    eprintln!("kubectl-hfapply: not implemented yet");
    std::process::exit(1);
}
