# Object Lock through Debian's boto3 over HTTPS. It signs no payload hash there but adds
# Content-MD5 to every PutObject (and to the retention, legal-hold and configuration calls),
# which S3 requires with lock parameters; requests without one are tested from Go.
import datetime
from botocore.exceptions import ClientError

def code(f):
    try:
        f()
    except ClientError as e:
        return e.response['Error']['Code']
    return None

def versions():
    return [(v['Key'], v['VersionId']) for v in s3.list_object_versions(Bucket=BUCKET).get('Versions', [])]

s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
assert s3.get_bucket_versioning(Bucket=BUCKET)['Status'] == 'Enabled'
until = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(hours=1)
body = b'locked bytes'
vid = s3.put_object(Bucket=BUCKET, Key='k', Body=body, ObjectLockMode='GOVERNANCE',
                    ObjectLockRetainUntilDate=until)['VersionId']
h = s3.head_object(Bucket=BUCKET, Key='k', VersionId=vid)
assert h['ObjectLockMode'] == 'GOVERNANCE' and h['ObjectLockRetainUntilDate'] == until, h
r = s3.get_object_retention(Bucket=BUCKET, Key='k', VersionId=vid)['Retention']
assert r == {'Mode': 'GOVERNANCE', 'RetainUntilDate': until}, r

c = code(lambda: s3.delete_object(Bucket=BUCKET, Key='k', VersionId=vid))
assert c == 'AccessDenied', c
assert s3.get_object(Bucket=BUCKET, Key='k', VersionId=vid)['Body'].read() == body

s3.put_object_legal_hold(Bucket=BUCKET, Key='k', VersionId=vid, LegalHold={'Status': 'ON'})
assert s3.get_object_legal_hold(Bucket=BUCKET, Key='k', VersionId=vid)['LegalHold'] == {'Status': 'ON'}
c = code(lambda: s3.delete_object(Bucket=BUCKET, Key='k', VersionId=vid, BypassGovernanceRetention=True))
assert c == 'AccessDenied', c
res = s3.delete_objects(Bucket=BUCKET, BypassGovernanceRetention=True,
                        Delete={'Objects': [{'Key': 'k', 'VersionId': vid}]})
assert [e['Code'] for e in res.get('Errors', [])] == ['AccessDenied'], res
assert versions() == [('k', vid)], versions()
assert s3.get_object(Bucket=BUCKET, Key='k', VersionId=vid)['Body'].read() == body

s3.put_object_legal_hold(Bucket=BUCKET, Key='k', VersionId=vid, LegalHold={'Status': 'OFF'})
s3.delete_object(Bucket=BUCKET, Key='k', VersionId=vid, BypassGovernanceRetention=True)
assert versions() == [], versions()

s3.put_object_lock_configuration(Bucket=BUCKET, ObjectLockConfiguration={
    'ObjectLockEnabled': 'Enabled', 'Rule': {'DefaultRetention': {'Mode': 'COMPLIANCE', 'Days': 1}}})
cfg = s3.get_object_lock_configuration(Bucket=BUCKET)['ObjectLockConfiguration']
assert cfg['Rule']['DefaultRetention'] == {'Mode': 'COMPLIANCE', 'Days': 1}, cfg
vid = s3.put_object(Bucket=BUCKET, Key='d', Body=body)['VersionId']
assert s3.head_object(Bucket=BUCKET, Key='d')['ObjectLockMode'] == 'COMPLIANCE'
c = code(lambda: s3.delete_object(Bucket=BUCKET, Key='d', VersionId=vid, BypassGovernanceRetention=True))
assert c == 'AccessDenied', c
assert versions() == [('d', vid)], versions()
print('ok')
