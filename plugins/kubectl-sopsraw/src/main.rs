//! `kubectl-sopsraw`: not implemented yet; its issue fills it in.

fn main() {
    eprintln!("kubectl-sopsraw: not implemented yet");
    std::process::exit(1);
}
