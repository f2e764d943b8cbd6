fn main() {
    // Only the addon links against Node; the pure core (`cargo test --no-default-features`) must not.
    if std::env::var_os("CARGO_FEATURE_NAPI").is_some() {
        napi_build::setup();
    }
}
