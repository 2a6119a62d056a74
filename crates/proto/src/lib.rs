//! Generated gRPC contract of Latch: prost messages and tonic clients and
//! servers for every package under `proto/latch/`, plus the encoded
//! `FileDescriptorSet` for gRPC server reflection.
//!
//! Module paths follow the protobuf packages: `latch.token.v1` is
//! [`latch::token::v1`], its service `TokenService` has the server trait
//! `latch::token::v1::token_service_server::TokenService` and the client
//! `latch::token::v1::token_service_client::TokenServiceClient`.
//! Well-known types (`Timestamp`, `FieldMask`, `Struct`) are `prost_types`.

/// Protobuf package `latch`.
pub mod latch {
    /// Protobuf package `latch.common`.
    pub mod common {
        /// Messages shared by several services (`latch.common.v1`).
        pub mod v1 {
            tonic::include_proto!("latch.common.v1");
        }
    }

    /// Protobuf package `latch.identity`.
    pub mod identity {
        /// `latch.identity.v1.IdentityService`.
        pub mod v1 {
            tonic::include_proto!("latch.identity.v1");
        }
    }

    /// Protobuf package `latch.token`.
    pub mod token {
        /// `latch.token.v1.TokenService`.
        pub mod v1 {
            tonic::include_proto!("latch.token.v1");
        }
    }

    /// Protobuf package `latch.session`.
    pub mod session {
        /// `latch.session.v1.SessionService`.
        pub mod v1 {
            tonic::include_proto!("latch.session.v1");
        }
    }

    /// Protobuf package `latch.authorization`.
    pub mod authorization {
        /// `latch.authorization.v1.AuthorizationService`.
        pub mod v1 {
            tonic::include_proto!("latch.authorization.v1");
        }
    }

    /// Protobuf package `latch.profile`.
    pub mod profile {
        /// `latch.profile.v1.ProfileService`.
        pub mod v1 {
            tonic::include_proto!("latch.profile.v1");
        }
    }

    /// Protobuf package `latch.events`.
    pub mod events {
        /// Events published on Redis pub/sub (`latch.events.v1`).
        pub mod v1 {
            tonic::include_proto!("latch.events.v1");
        }
    }
}

/// Encoded `google.protobuf.FileDescriptorSet` of every Latch .proto file and
/// its imports, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/latch_descriptor.bin"));
