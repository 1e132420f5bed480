# ACLs, ownership controls, public access blocks and the expected-owner header, as boto3
# sends and parses them. A second account (AK2/SK2, id ID2) and unsigned requests check
# who gets what.
import urllib.request, urllib.error
from botocore import UNSIGNED
from botocore.exceptions import ClientError

def client(**kw):
    return boto3.client('s3', endpoint_url=os.environ['EP'], region_name=os.environ['REGION'],
        config=botocore.config.Config(retries={'max_attempts': 1}, s3={'addressing_style': 'path'}, **kw.pop('cfg', {})), **kw)

other = client(aws_access_key_id=os.environ['AK2'], aws_secret_access_key=os.environ['SK2'])
anon = client(cfg={'signature_version': UNSIGNED})
ID2 = os.environ['ID2']
ALL = 'http://acs.amazonaws.com/groups/global/AllUsers'

def code(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response['Error']['Code']
    return None

def grants(acl):
    return {(g['Grantee'].get('ID') or g['Grantee'].get('URI'), g['Permission']) for g in acl['Grants']}

s3.put_object(Bucket=BUCKET, Key='pub', Body=b'public', ACL='public-read')
s3.put_object(Bucket=BUCKET, Key='priv', Body=b'private')

acl = s3.get_object_acl(Bucket=BUCKET, Key='pub')
assert acl['Owner'] == {'ID': 'tester', 'DisplayName': 'tester'}, acl['Owner']
assert grants(acl) == {('tester', 'FULL_CONTROL'), (ALL, 'READ')}, acl['Grants']
assert {g['Grantee']['Type'] for g in acl['Grants']} == {'CanonicalUser', 'Group'}

# Unsigned: plain urllib and boto3's UNSIGNED client.
assert urllib.request.urlopen(os.environ['EP'] + '/' + BUCKET + '/pub', timeout=30).read() == b'public'
try:
    urllib.request.urlopen(os.environ['EP'] + '/' + BUCKET + '/priv', timeout=30)
    raise AssertionError('anonymous read of a private object')
except urllib.error.HTTPError as e:
    assert e.code == 403, e.code
assert anon.get_object(Bucket=BUCKET, Key='pub')['Body'].read() == b'public'
assert code(anon.get_object, Bucket=BUCKET, Key='priv') == 'AccessDenied'
assert code(anon.list_objects_v2, Bucket=BUCKET) == 'AccessDenied'

# Another account, before and after a grant by ID; a grant by e-mail is refused.
assert other.get_object(Bucket=BUCKET, Key='pub')['Body'].read() == b'public'
assert code(other.get_object, Bucket=BUCKET, Key='priv') == 'AccessDenied'
s3.put_object_acl(Bucket=BUCKET, Key='priv', GrantRead='id=' + ID2, GrantFullControl='id=tester')
assert other.get_object(Bucket=BUCKET, Key='priv')['Body'].read() == b'private'
assert code(s3.put_object_acl, Bucket=BUCKET, Key='priv', GrantRead='emailAddress=a@example.com') == 'UnresolvableGrantByEmailAddress'
assert grants(s3.get_object_acl(Bucket=BUCKET, Key='priv')) == {('tester', 'FULL_CONTROL'), (ID2, 'READ')}

# An ACL body, as boto3 builds it from a dict.
s3.put_object_acl(Bucket=BUCKET, Key='priv', AccessControlPolicy={
    'Owner': {'ID': 'tester'},
    'Grants': [{'Grantee': {'Type': 'CanonicalUser', 'ID': 'tester'}, 'Permission': 'FULL_CONTROL'},
               {'Grantee': {'Type': 'Group', 'URI': ALL}, 'Permission': 'READ'}]})
assert anon.get_object(Bucket=BUCKET, Key='priv')['Body'].read() == b'private'

# Bucket ACL: public-read lets anyone list; other still cannot write.
s3.put_bucket_acl(Bucket=BUCKET, ACL='public-read')
assert [o['Key'] for o in anon.list_objects_v2(Bucket=BUCKET)['Contents']] == ['priv', 'pub']
assert grants(s3.get_bucket_acl(Bucket=BUCKET)) == {('tester', 'FULL_CONTROL'), (ALL, 'READ')}
assert code(other.put_object, Bucket=BUCKET, Key='x', Body=b'x') == 'AccessDenied'
assert code(other.put_bucket_acl, Bucket=BUCKET, ACL='public-read-write') == 'AccessDenied'
assert grants(s3.get_bucket_acl(Bucket=BUCKET)) == {('tester', 'FULL_CONTROL'), (ALL, 'READ')}

# Ownership controls.
enf = BUCKET + '-enforced'
s3.create_bucket(Bucket=enf, ObjectOwnership='BucketOwnerEnforced')
r = s3.get_bucket_ownership_controls(Bucket=enf)['OwnershipControls']['Rules']
assert r == [{'ObjectOwnership': 'BucketOwnerEnforced'}], r
assert code(s3.put_object, Bucket=enf, Key='k', Body=b'x', ACL='public-read') == 'AccessControlListNotSupported'
s3.put_object(Bucket=enf, Key='k', Body=b'x', ACL='bucket-owner-full-control')
assert code(s3.get_bucket_ownership_controls, Bucket=BUCKET) == 'OwnershipControlsNotFoundError'

# Public access block.
assert code(s3.get_public_access_block, Bucket=BUCKET) == 'NoSuchPublicAccessBlockConfiguration'
s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={'BlockPublicAcls': True, 'IgnorePublicAcls': True})
c = s3.get_public_access_block(Bucket=BUCKET)['PublicAccessBlockConfiguration']
assert c == {'BlockPublicAcls': True, 'IgnorePublicAcls': True, 'BlockPublicPolicy': False, 'RestrictPublicBuckets': False}, c
assert code(s3.put_object, Bucket=BUCKET, Key='blocked', Body=b'x', ACL='public-read') == 'AccessDenied'
assert code(anon.get_object, Bucket=BUCKET, Key='pub') == 'AccessDenied'
s3.delete_public_access_block(Bucket=BUCKET)
assert anon.get_object(Bucket=BUCKET, Key='pub')['Body'].read() == b'public'

# Expected bucket owner.
assert code(s3.get_object, Bucket=BUCKET, Key='pub', ExpectedBucketOwner='someone-else') == 'AccessDenied'
assert s3.get_object(Bucket=BUCKET, Key='pub', ExpectedBucketOwner='tester')['Body'].read() == b'public'
print('ok')
