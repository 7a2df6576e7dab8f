#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use phd_device::{
    B256, Device, DeviceCertificate, Error, Manufacturer, PrivateKeySigner, RecordingSignature,
    sig_path_for, verify_recording, verify_recording_file, verify_recording_sidecar,
};

const DATA: &[u8] = b"time,ax,ay,az\n0,0.01,0.02,0.98\n10,0.02,0.01,0.99\n";

struct Fixture {
    maker: Manufacturer,
    device: Device,
}

fn fixture() -> Fixture {
    let maker = Manufacturer::new(PrivateKeySigner::random());
    let dev_key = PrivateKeySigner::random();
    let cert = maker
        .certify_device(dev_key.address(), "AccelBand 3", "SN-000123")
        .unwrap();
    let device = Device::new(dev_key, cert).unwrap();
    Fixture { maker, device }
}

#[test]
fn happy_path_bytes_and_files() {
    let f = fixture();
    let cert = f.device.certificate();
    assert_eq!(cert.manufacturer, f.maker.address());
    assert_eq!(cert.serial_hash, f.maker.serial_hash("SN-000123"));
    assert_ne!(cert.serial_hash, f.maker.serial_hash("SN-000124"));
    // The raw serial never appears.
    assert!(!cert.to_json().contains("SN-000123"));

    let sig = f.device.sign_recording(DATA).unwrap();
    let v = verify_recording(DATA, &sig).unwrap();
    assert_eq!(v.manufacturer, f.maker.address());
    assert_eq!(v.device, f.device.address());
    assert_eq!(v.model, "AccelBand 3");
    v.ensure_manufacturer_in(&[f.maker.address()]).unwrap();
    assert!(matches!(
        v.ensure_manufacturer_in(&[]),
        Err(Error::UnapprovedManufacturer { .. })
    ));

    // JSON round trip through files, sidecar naming.
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("walk.csv");
    std::fs::write(&data_path, DATA).unwrap();
    let sig = f.device.sign_recording_file(&data_path).unwrap();
    let sidecar = sig.save_sidecar(&data_path).unwrap();
    assert_eq!(sidecar, dir.path().join("walk.csv.sig.json"));
    assert_eq!(sidecar, sig_path_for(&data_path));
    assert_eq!(RecordingSignature::load(&sidecar).unwrap(), sig);
    assert_eq!(verify_recording_sidecar(&data_path).unwrap(), v);
    assert_eq!(verify_recording_file(&data_path, &sig).unwrap(), v);

    let cert_path = dir.path().join("device.cert.json");
    cert.save(&cert_path).unwrap();
    let loaded = DeviceCertificate::load(&cert_path).unwrap();
    assert_eq!(&loaded, cert);
    assert_eq!(loaded.verify().unwrap(), f.maker.address());
    let text = std::fs::read_to_string(&cert_path).unwrap();
    assert!(
        text.contains(&f.device.address().to_checksum(None)),
        "EIP-55 address in {text}"
    );
}

#[test]
fn tampered_content_is_rejected() {
    let f = fixture();
    let sig = f.device.sign_recording(DATA).unwrap();
    let mut data = DATA.to_vec();
    data[20] ^= 1;
    assert!(matches!(
        verify_recording(&data, &sig),
        Err(Error::ContentHashMismatch { .. })
    ));
    // Changing the hash in the signature file breaks the device signature instead.
    let mut forged = sig.clone();
    forged.content_sha256 = phd_device::sha256(&data);
    assert!(matches!(
        verify_recording(&data, &forged),
        Err(Error::BadRecordingSignature {
            recovered: Some(_),
            ..
        })
    ));
}

#[test]
fn certificate_signed_by_another_key() {
    let f = fixture();
    let impostor = Manufacturer::new(PrivateKeySigner::random());
    let dev_key = PrivateKeySigner::random();
    // The impostor signs but claims to be the real manufacturer.
    let mut cert = impostor
        .certify_device(dev_key.address(), "AccelBand 3", "SN-9")
        .unwrap();
    cert.manufacturer = f.maker.address();
    match cert.verify() {
        Err(Error::ManufacturerMismatch {
            claimed, recovered, ..
        }) => {
            assert_eq!(claimed, f.maker.address());
            assert_eq!(recovered, impostor.address());
        }
        other => panic!("expected ManufacturerMismatch, got {other:?}"),
    }
    // A device cannot be built on it, and a recording carrying it is refused.
    assert!(matches!(
        Device::new(dev_key.clone(), cert.clone()),
        Err(Error::ManufacturerMismatch { .. })
    ));
    let honest = Device::new(
        dev_key.clone(),
        impostor
            .certify_device(dev_key.address(), "AccelBand 3", "SN-9")
            .unwrap(),
    )
    .unwrap();
    let mut sig = honest.sign_recording(DATA).unwrap();
    sig.certificate = cert;
    assert!(matches!(
        verify_recording(DATA, &sig),
        Err(Error::ManufacturerMismatch { .. })
    ));

    // Editing the model after signing also breaks the certificate.
    let mut sig = f.device.sign_recording(DATA).unwrap();
    sig.certificate.model = "AccelBand 4 Pro".into();
    assert!(matches!(
        verify_recording(DATA, &sig),
        Err(Error::ManufacturerMismatch { .. })
    ));
}

#[test]
fn recording_signed_by_a_different_device() {
    let f = fixture();
    let other = Device::new(PrivateKeySigner::random(), f.device.certificate().clone());
    // Device::new refuses a key that is not the certified one.
    assert!(matches!(other, Err(Error::DeviceKeyMismatch { .. })));

    // A genuinely certified second device signs; its signature is grafted onto device 1's cert.
    let key2 = PrivateKeySigner::random();
    let dev2 = Device::new(
        key2.clone(),
        f.maker
            .certify_device(key2.address(), "AccelBand 3", "SN-2")
            .unwrap(),
    )
    .unwrap();
    let mut sig = dev2.sign_recording(DATA).unwrap();
    sig.certificate = f.device.certificate().clone();
    match verify_recording(DATA, &sig) {
        Err(Error::BadRecordingSignature {
            device, recovered, ..
        }) => {
            assert_eq!(device, f.device.address());
            assert_eq!(recovered, Some(dev2.address()));
        }
        other => panic!("expected BadRecordingSignature, got {other:?}"),
    }
    // A certificate signature reused as a recording signature does not verify (domain tags).
    let mut sig = f.device.sign_recording(DATA).unwrap();
    sig.signature = sig.certificate.signature;
    assert!(matches!(
        verify_recording(DATA, &sig),
        Err(Error::BadRecordingSignature { .. })
    ));
}

#[test]
fn malformed_json_is_rejected() {
    let f = fixture();
    let good = f.device.sign_recording(DATA).unwrap().to_json();
    let cases: Vec<String> = vec![
        "not json".into(),
        "{}".into(),
        good.replacen("\"content_sha256\": \"0x", "\"content_sha256\": \"0xzz", 1),
        good.replacen("\"signature\": \"0x", "\"signature\": \"0x00", 1),
        good.replacen("\"version\": 1,", "\"version\": 1, \"extra\": true,", 1),
        good.replacen("\"version\": 1,", "\"version\": \"1\",", 1),
        " ".repeat(70_000),
    ];
    for (i, c) in cases.iter().enumerate() {
        match RecordingSignature::from_json(c.as_bytes()) {
            Err(Error::Malformed { path: None, .. }) => {}
            other => panic!("case {i}: expected Malformed, got {other:?}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.csv.sig.json");
    std::fs::write(&p, "{\"version\": 1, \"certificate\": 5}").unwrap();
    match RecordingSignature::load(&p) {
        Err(e @ Error::Malformed { .. }) => {
            assert!(e.to_string().contains("x.csv.sig.json"), "{e}")
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert!(matches!(
        DeviceCertificate::from_json(b"[1,2]"),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        verify_recording_sidecar(dir.path().join("absent.csv")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn wrong_version_is_rejected() {
    let f = fixture();
    let sig = f.device.sign_recording(DATA).unwrap();
    let json = sig.to_json();
    let v2 = json.replacen("\"version\": 1", "\"version\": 2", 1);
    assert!(matches!(
        RecordingSignature::from_json(v2.as_bytes()),
        Err(Error::UnsupportedVersion {
            found: 2,
            what: "recording signature"
        })
    ));
    // Nested certificate version (the second "version" in the document).
    let idx = json.rfind("\"version\": 1").unwrap();
    let mut cert_v9 = json.clone();
    cert_v9.replace_range(idx..idx + "\"version\": 1".len(), "\"version\": 9");
    assert!(matches!(
        RecordingSignature::from_json(cert_v9.as_bytes()),
        Err(Error::UnsupportedVersion {
            found: 9,
            what: "device certificate"
        })
    ));
    // In-memory structs with a wrong version are refused by verify too.
    let mut s = sig.clone();
    s.version = 3;
    assert!(matches!(
        verify_recording(DATA, &s),
        Err(Error::UnsupportedVersion { .. })
    ));
    let mut s = sig;
    s.certificate.version = 0;
    assert!(matches!(
        verify_recording(DATA, &s),
        Err(Error::UnsupportedVersion { .. })
    ));
}

#[test]
fn model_limits_and_determinism() {
    let f = fixture();
    let k = PrivateKeySigner::random();
    assert!(matches!(
        f.maker.certify_device(k.address(), "", "s"),
        Err(Error::InvalidField { .. })
    ));
    assert!(matches!(
        f.maker.certify_device(k.address(), &"m".repeat(257), "s"),
        Err(Error::InvalidField { .. })
    ));
    // Serial hashing is keyed: another manufacturer (or an explicit key) gives another hash.
    let other = Manufacturer::new(PrivateKeySigner::random());
    assert_ne!(other.serial_hash("SN-1"), f.maker.serial_hash("SN-1"));
    let keyed = Manufacturer::new(PrivateKeySigner::random()).with_serial_key([7; 32]);
    assert_eq!(
        keyed.serial_hash("SN-1"),
        phd_device::serial_hash(&[7; 32], "SN-1")
    );
    assert_ne!(keyed.serial_hash("SN-1"), B256::ZERO);
}
