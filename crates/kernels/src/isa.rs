//! Instruction-set tiers, run-time detection and selection: the dispatch registry.
//!
//! This module imports nothing of the kernel families (tract-linalg's `plug` idea turned
//! around): it defines the generic per-tier table [`PerIsa`] and the token [`Kernels`], a proof
//! that the CPU has a tier. Each family (`q8_0/`, `quant/`, `gemm/`, `elementwise/`,
//! `attention/`) owns a `static PerIsa<its table>` that its per-ISA modules fill, and its
//! `impl Kernels` methods pick their entry with [`Kernels::pick`]. A [`Kernels`] is only handed
//! out ([`kernels_for`], `crate::kernels`) after run-time detection confirmed that the CPU has
//! every feature the tier's functions were compiled for; that is the invariant behind every
//! `unsafe` call through a family's table. Selection runs the families' self-checks, which the
//! crate root hands in ([`selected`]), so they too stay out of this module.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// An instruction-set tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust, always available; the oracle the SIMD tiers are tested against.
    Scalar,
    /// x86-64 AVX2 + FMA + F16C.
    Avx2,
    /// x86-64 AVX-512 F/BW/VL + VNNI (plus FMA, F16C).
    Avx512,
    /// aarch64 Advanced SIMD; uses `sdot` when the CPU has the dot-product extension.
    Neon,
}

impl Isa {
    /// Every tier, fastest first.
    pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Scalar];

    /// The name `GGUFEMBED_ISA` accepts for this tier.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Whether the running CPU supports this tier (and the build target can run it).
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.is_available()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
            }
            // Advanced SIMD is part of the aarch64 base architecture.
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error returned when parsing an unknown ISA name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownIsa(pub String);

impl fmt::Display for UnknownIsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown ISA {:?} (expected scalar, avx2, avx512 or neon)",
            self.0
        )
    }
}

impl std::error::Error for UnknownIsa {}

impl FromStr for Isa {
    type Err = UnknownIsa;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Ok(Isa::Scalar),
            "avx2" => Ok(Isa::Avx2),
            "avx512" => Ok(Isa::Avx512),
            "neon" => Ok(Isa::Neon),
            _ => Err(UnknownIsa(s.to_string())),
        }
    }
}

/// The sub-tier a [`Kernels`] token stands for (NEON with and without the dot-product
/// extension share one [`Isa`] but not every kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tier {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "aarch64")]
    Neon,
    #[cfg(target_arch = "aarch64")]
    NeonDotprod,
}

/// One entry per tier of this build target: a kernel family's table, filled by the family
/// from its per-ISA modules (a tier may repeat another tier's entry for a kernel it does not
/// speed up). Adding a tier adds a field here, so every family that lacks an entry for it
/// fails to compile.
pub(crate) struct PerIsa<T: 'static> {
    pub scalar: T,
    #[cfg(target_arch = "x86_64")]
    pub avx2: T,
    #[cfg(target_arch = "x86_64")]
    pub avx512: T,
    #[cfg(target_arch = "aarch64")]
    pub neon: T,
    #[cfg(target_arch = "aarch64")]
    pub neon_dotprod: T,
}

/// The kernels of one ISA tier: a token that the CPU has the tier.
///
/// Obtain one with [`kernels`](crate::kernels()) (the detected tier) or [`kernels_for`] (a
/// given tier). The methods (`gemm_q8_0_cols`, `layer_norm`, …) are defined by the kernel
/// families and documented beside the free functions of the same name, which call them on
/// [`kernels`](crate::kernels()).
pub struct Kernels {
    isa: Isa,
    tier: Tier,
}

impl fmt::Debug for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernels")
            .field("isa", &self.isa)
            .finish_non_exhaustive()
    }
}

impl Kernels {
    /// The tier these kernels were compiled for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// This tier's entry of a family's table.
    #[inline(always)]
    pub(crate) fn pick<T>(&self, table: &'static PerIsa<T>) -> &'static T {
        match self.tier {
            Tier::Scalar => &table.scalar,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => &table.avx2,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => &table.avx512,
            #[cfg(target_arch = "aarch64")]
            Tier::Neon => &table.neon,
            #[cfg(target_arch = "aarch64")]
            Tier::NeonDotprod => &table.neon_dotprod,
        }
    }
}

/// The scalar tier: always available, the oracle the self-checks compare against.
pub(crate) static SCALAR: Kernels = Kernels {
    isa: Isa::Scalar,
    tier: Tier::Scalar,
};

#[cfg(target_arch = "x86_64")]
static AVX2: Kernels = Kernels {
    isa: Isa::Avx2,
    tier: Tier::Avx2,
};

#[cfg(target_arch = "x86_64")]
static AVX512: Kernels = Kernels {
    isa: Isa::Avx512,
    tier: Tier::Avx512,
};

#[cfg(target_arch = "aarch64")]
static NEON: Kernels = Kernels {
    isa: Isa::Neon,
    tier: Tier::Neon,
};

#[cfg(target_arch = "aarch64")]
static NEON_DOTPROD: Kernels = Kernels {
    isa: Isa::Neon,
    tier: Tier::NeonDotprod,
};

/// The kernels of tier `isa`, or `None` when this CPU (or build target) lacks it.
pub fn kernels_for(isa: Isa) -> Option<&'static Kernels> {
    if !isa.is_available() {
        return None;
    }
    match isa {
        Isa::Scalar => Some(&SCALAR),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(&AVX2),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(&AVX512),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            if std::arch::is_aarch64_feature_detected!("dotprod") {
                Some(&NEON_DOTPROD)
            } else {
                Some(&NEON)
            }
        }
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// A family's check of a tier against [`SCALAR`]: `false` if any result differs beyond what the
/// family promises (bits for Q8_0, a tolerance for float sums).
pub(crate) type SelfCheck = fn(&Kernels) -> bool;

/// The tier chosen for this process (detected once, then cached), each candidate checked with
/// every function of `checks` (see `crate::kernels`).
pub(crate) fn selected(checks: &[SelfCheck]) -> &'static Kernels {
    static SELECTED: OnceLock<&'static Kernels> = OnceLock::new();
    SELECTED.get_or_init(|| select(std::env::var("GGUFEMBED_ISA").ok().as_deref(), checks))
}

/// Chooses a tier given the value of `GGUFEMBED_ISA` (if set).
fn select(env: Option<&str>, checks: &[SelfCheck]) -> &'static Kernels {
    let passes = |k: &Kernels| k.isa == Isa::Scalar || checks.iter().all(|check| check(k));
    let forced = match env {
        Some(s) if !s.trim().is_empty() => match s.parse::<Isa>() {
            Ok(isa) => Some(isa),
            Err(e) => {
                log::warn!("GGUFEMBED_ISA: {e}; using the detected tier");
                None
            }
        },
        _ => None,
    };
    if let Some(isa) = forced {
        match kernels_for(isa) {
            Some(k) if passes(k) => {
                log::debug!("ggufembed-kernels: using ISA {isa} (forced by GGUFEMBED_ISA)");
                return k;
            }
            Some(_) => log::warn!("GGUFEMBED_ISA={isa} failed its self-check; falling back"),
            None => log::warn!("GGUFEMBED_ISA={isa} is not supported by this CPU; falling back"),
        }
    }
    for isa in Isa::ALL {
        if let Some(k) = kernels_for(isa) {
            if passes(k) {
                log::debug!("ggufembed-kernels: using ISA {isa}");
                return k;
            }
            log::warn!("ggufembed-kernels: ISA {isa} failed its self-check; skipping it");
        }
    }
    &SCALAR
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select(env: Option<&str>) -> &'static Kernels {
        super::select(env, crate::SELF_CHECKS)
    }

    #[test]
    fn forced_tiers_fall_back_when_unavailable() {
        let best = select(None).isa;
        assert!(best.is_available());
        for isa in Isa::ALL {
            let got = select(Some(isa.name())).isa;
            assert_eq!(
                got,
                if isa.is_available() { isa } else { best },
                "forced {isa}"
            );
        }
        assert_eq!(select(Some("bogus")).isa, best);
        assert_eq!(select(Some("")).isa, best);
    }

    #[test]
    fn the_fastest_available_tier_is_chosen_by_default() {
        let best = Isa::ALL.into_iter().find(|i| i.is_available()).unwrap();
        assert_eq!(select(None).isa, best);
        assert_eq!(select(Some("bogus")).isa, best);
        if Isa::Avx512.is_available() {
            assert_eq!(select(None).isa, Isa::Avx512);
            assert_eq!(select(Some("avx2")).isa, Isa::Avx2);
            assert_eq!(select(Some("scalar")).isa, Isa::Scalar);
        }
    }

    #[test]
    fn every_available_tier_passes_every_self_check() {
        for isa in Isa::ALL {
            if let Some(k) = kernels_for(isa) {
                for check in crate::SELF_CHECKS {
                    assert!(check(k), "{isa}");
                }
            }
        }
    }

    #[test]
    fn a_failing_self_check_skips_the_tier() {
        let fail_simd: SelfCheck = |k| k.isa == Isa::Scalar;
        assert_eq!(super::select(None, &[fail_simd]).isa, Isa::Scalar);
        assert_eq!(super::select(Some("avx2"), &[fail_simd]).isa, Isa::Scalar);
    }
}
