//! S3 source and deploy through the object store.

use sluice_runtime::jobs::JobOutcome;

use crate::support::*;

#[tokio::test]
async fn an_s3_source_copies_the_zip_and_reports_its_version() {
    let mut h = Harness::new();
    let bytes = zip_bytes(&[("app.py", "print('hi')\n")]);
    let stored = h
        .store
        .put_bytes("uploads", "releases/app.zip", bytes.clone());
    let mut job = job("Source", action("Source", "AWS", "S3"));
    config(
        &mut job,
        &[("S3Bucket", "uploads"), ("S3ObjectKey", "releases/app.zip")],
    );
    job.outputs = vec![output("SourceOutput", &[])];
    let outcome = h.run(job).await;
    let (artifacts, variables) = succeeded(&outcome);
    let copy = &artifacts["SourceOutput"];
    assert_eq!(h.store.bytes(&copy.bucket, &copy.key).unwrap(), bytes);
    assert_eq!(variables["ETag"], stored.etag);
    assert_eq!(variables["VersionId"], stored.version_id);
    match outcome {
        JobOutcome::Succeeded {
            revision: Some(r), ..
        } => assert_eq!(r.revision_id, stored.version_id),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_s3_source_that_is_not_a_zip_fails() {
    let mut h = Harness::new();
    h.store
        .put_bytes("uploads", "notes.txt", b"plain text".to_vec());
    let mut job = job("Source", action("Source", "AWS", "S3"));
    config(
        &mut job,
        &[("S3Bucket", "uploads"), ("S3ObjectKey", "notes.txt")],
    );
    job.outputs = vec![output("SourceOutput", &[])];
    let message = failure(&h.run(job.clone()).await).to_string();
    assert!(
        message.starts_with("s3://uploads/notes.txt is not a zip file"),
        "{message}"
    );

    config(&mut job, &[("S3ObjectKey", "absent.zip")]);
    let message = failure(&h.run(job).await).to_string();
    assert_eq!(message, "no object s3://uploads/absent.zip");
}

#[tokio::test]
async fn an_s3_deploy_extracts_every_file_under_the_prefix() {
    let mut h = Harness::new();
    let mut job = job("Deploy", action("Deploy", "AWS", "S3"));
    job.inputs = vec![h.input(
        "Site",
        &[("index.html", "<h1>hi</h1>"), ("css/site.css", "h1 {}")],
    )];
    config(
        &mut job,
        &[
            ("BucketName", "web"),
            ("Extract", "true"),
            ("ObjectKey", "site/"),
            ("CannedACL", "public-read"),
        ],
    );
    let outcome = h.run(job.clone()).await;
    succeeded(&outcome);
    assert_eq!(
        h.store.keys("web"),
        ["site/css/site.css", "site/index.html"]
    );
    assert_eq!(
        h.store.bytes("web", "site/index.html").unwrap(),
        b"<h1>hi</h1>"
    );
    assert!(h.log(&job).contains("CannedACL `public-read` is ignored"));
}

#[tokio::test]
async fn an_s3_deploy_without_extract_stores_the_zip_as_the_key() {
    let mut h = Harness::new();
    let mut job = job("Deploy", action("Deploy", "AWS", "S3"));
    let input = h.input("Bundle", &[("a.txt", "a")]);
    let original = h
        .store
        .bytes(&input.object.bucket, &input.object.key)
        .unwrap();
    job.inputs = vec![input];
    config(
        &mut job,
        &[
            ("BucketName", "releases"),
            ("Extract", "false"),
            ("ObjectKey", "v1/bundle.zip"),
        ],
    );
    succeeded(&h.run(job.clone()).await);
    assert_eq!(
        h.store.bytes("releases", "v1/bundle.zip").unwrap(),
        original
    );

    job.configuration.remove("ObjectKey");
    assert_eq!(
        failure(&h.run(job).await),
        "ObjectKey is required when Extract is false"
    );
}
