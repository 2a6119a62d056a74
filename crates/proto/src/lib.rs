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

#[cfg(test)]
mod tests {
    use prost::Message as _;

    #[test]
    fn descriptor_set_holds_every_latch_file_and_service() -> Result<(), prost::DecodeError> {
        let fds = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET)?;
        let services: Vec<String> = fds
            .file
            .iter()
            .flat_map(|f| {
                f.service
                    .iter()
                    .map(move |s| format!("{}.{}", f.package(), s.name()))
            })
            .collect();
        for name in [
            "latch.identity.v1.IdentityService",
            "latch.token.v1.TokenService",
            "latch.session.v1.SessionService",
            "latch.authorization.v1.AuthorizationService",
            "latch.profile.v1.ProfileService",
        ] {
            assert!(services.iter().any(|s| s == name), "{name} missing");
        }
        for file in [
            "latch/common/v1/common.proto",
            "latch/events/v1/events.proto",
            "google/protobuf/timestamp.proto",
        ] {
            assert!(fds.file.iter().any(|f| f.name() == file), "{file} missing");
        }
        Ok(())
    }
}
