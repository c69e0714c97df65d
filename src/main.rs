use kube::CustomResourceExt;
fn main() {
    print!("{}", nexus_operator::crd::crds_yaml().unwrap());
    let _ = nexus_operator::crd::AuthClient::crd();
}
