//! Crash points: with the `failpoints` feature (tests only), the process
//! dies on the spot at a named write boundary when `FAILPOINTS` names it
//! (`FAILPOINTS=offline.committed=return`), so that tests can crash it at
//! each boundary deterministically and check what a restart finds. Without
//! the feature a crash point is nothing.

/// Dies at write boundary `name` if it is armed.
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        $crate::crash_point::crash_if_armed($name);
    };
}

#[cfg(feature = "failpoints")]
pub fn crash_if_armed(name: &str) {
    if fail::eval(name, |_| ()).is_some() {
        eprintln!("crash point {name}: the process dies here");
        // SAFETY: `_exit` ends the process at once, as a crash would: no
        // destructor, buffer flush or exit handler runs.
        unsafe { libc::_exit(86) };
    }
}

/// Arms the crash points `FAILPOINTS` names, for the life of the process.
pub fn arm_from_environment() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}

/// Whether the fault `name` is armed (`FAILPOINTS=name=return`): for faults
/// that change what the process does rather than stop it. Always false
/// without the `failpoints` feature.
pub fn armed(name: &str) -> bool {
    #[cfg(feature = "failpoints")]
    return fail::eval(name, |_| ()).is_some();
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = name;
        false
    }
}
