//! The ownership tag written into every Auth0 client the operator creates or adopts, so a retry
//! finds a client whose creation was never recorded and other clusters keep their hands off.

use std::collections::BTreeMap;

use kube::ResourceExt;

use auth0_mgmt::Auth0Client;
use nexus_crd::AuthClient;

/// `client_metadata` key holding the identity of the cluster that owns the client.
pub const TAG_CLUSTER: &str = "nexus_cluster";
/// `client_metadata` key holding the uid of the owning `AuthClient`.
pub const TAG_OWNER_UID: &str = "nexus_owner_uid";
/// `client_metadata` key holding `namespace/name` of the owner (informational, truncated).
pub const TAG_OWNER_REF: &str = "nexus_owner";
/// Auth0's limit on one `client_metadata` value.
const MAX_METADATA_VALUE: usize = 255;

/// Who owns an Auth0 client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnershipTag {
    /// The operator's cluster identity (`--cluster-id`).
    pub cluster: String,
    /// uid of the `AuthClient`.
    pub owner_uid: String,
    /// `namespace/name` of the `AuthClient`.
    pub owner_ref: String,
}

/// The owner an Auth0 client's tag names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedOwner {
    /// Cluster identity.
    pub cluster: String,
    /// uid of the owning `AuthClient`.
    pub owner_uid: String,
    /// `namespace/name` of the owner (may be empty).
    pub owner_ref: String,
}

impl OwnershipTag {
    /// The tag of `owner` in cluster `cluster`; None until the API server gave it a uid.
    pub fn for_client(owner: &AuthClient, cluster: &str) -> Option<Self> {
        Some(Self {
            cluster: cluster.to_owned(),
            owner_uid: owner.uid()?,
            owner_ref: format!(
                "{}/{}",
                owner.namespace().unwrap_or_default(),
                owner.name_any()
            ),
        })
    }

    /// The metadata entries of the tag (the owner reference cut to Auth0's 255-byte limit).
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        let mut reference = self.owner_ref.clone();
        if reference.len() > MAX_METADATA_VALUE {
            let mut cut = MAX_METADATA_VALUE;
            while !reference.is_char_boundary(cut) {
                cut -= 1;
            }
            reference.truncate(cut);
        }
        BTreeMap::from([
            (TAG_CLUSTER.to_owned(), self.cluster.clone()),
            (TAG_OWNER_UID.to_owned(), self.owner_uid.clone()),
            (TAG_OWNER_REF.to_owned(), reference),
        ])
    }

    /// Whether the Auth0 client carries exactly this tag (cluster and owner uid).
    pub fn matches(&self, client: &Auth0Client) -> bool {
        tagged_owner(client)
            .is_some_and(|o| o.cluster == self.cluster && o.owner_uid == self.owner_uid)
    }
}

/// Who the Auth0 client's tag names as its owner, if anyone.
pub fn tagged_owner(client: &Auth0Client) -> Option<TaggedOwner> {
    let metadata = client.client_metadata.as_ref()?;
    Some(TaggedOwner {
        cluster: metadata.get(TAG_CLUSTER)?.clone(),
        owner_uid: metadata.get(TAG_OWNER_UID)?.clone(),
        owner_ref: metadata.get(TAG_OWNER_REF).cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tag;

    #[test]
    fn tag_is_read_back_and_bounded() {
        let long = OwnershipTag {
            owner_ref: format!("ns/{}", "é".repeat(300)),
            ..tag()
        };
        let metadata = long.to_metadata();
        assert!(metadata[TAG_OWNER_REF].len() <= 255);
        let client = Auth0Client {
            client_id: "c".into(),
            client_metadata: Some(metadata),
            ..Default::default()
        };
        assert!(long.matches(&client));
        assert_eq!(
            tagged_owner(&client).map(|o| (o.cluster, o.owner_uid)),
            Some(("prod-eu".to_owned(), "0b7c-uid".to_owned()))
        );
        let other_cluster = OwnershipTag {
            cluster: "cluster-b".into(),
            ..tag()
        };
        assert!(!other_cluster.matches(&client));
        let untagged = Auth0Client {
            client_metadata: Some(BTreeMap::new()),
            ..Default::default()
        };
        assert_eq!(tagged_owner(&untagged), None);
        assert!(!tag().matches(&untagged));
    }
}
