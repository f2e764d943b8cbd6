//! Why a call was refused, as stable codes that reach JavaScript unchanged.

use std::fmt;

/// The kinds of refusal; `code()` is the contract string JS sees as `err.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No tenant in context (or a context that cannot be used for this call).
    TenantMissing,
    /// A tenant id that breaks the id rule.
    TenantInvalid,
    /// The call would read or write outside the current tenant.
    TenantViolation,
    /// The tenant is over its quota (`scope::quota`); the call was not sent.
    TenantQuota,
    /// A malformed argument; JS turns it into a `TypeError`.
    InvalidArgument,
}

impl ErrorKind {
    /// The stable code string for this kind.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::TenantMissing => "TENANT_MISSING",
            ErrorKind::TenantInvalid => "TENANT_INVALID",
            ErrorKind::TenantViolation => "TENANT_VIOLATION",
            ErrorKind::TenantQuota => "TENANT_QUOTA",
            ErrorKind::InvalidArgument => "ERR_INVALID_ARG",
        }
    }
}

/// A refusal with a human message; nothing was sent to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ScopeError {
    pub fn missing(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::TenantMissing, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::TenantInvalid, message: message.into() }
    }
    pub fn violation(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::TenantViolation, message: message.into() }
    }
    pub fn argument(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::InvalidArgument, message: message.into() }
    }
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for ScopeError {}

pub type ScopeResult<T> = Result<T, ScopeError>;
