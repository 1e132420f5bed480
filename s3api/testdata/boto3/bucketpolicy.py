import json
from botocore.exceptions import ClientError

def code(f):
    try:
        f()
    except ClientError as e:
        return e.response['Error']['Code'], e.response['Error']['Message']
    return None, None

c, _ = code(lambda: s3.get_bucket_policy(Bucket=BUCKET))
assert c == 'NoSuchBucketPolicy', c

policy = {
    'Version': '2012-10-17',
    'Statement': [{
        'Sid': 'LoopbackReads', 'Effect': 'Allow', 'Principal': '*',
        'Action': ['s3:GetObject'], 'Resource': 'arn:aws:s3:::%s/public/*' % BUCKET,
        'Condition': {'IpAddress': {'aws:SourceIp': ['127.0.0.0/8']}},
    }],
}
doc = json.dumps(policy, indent=2)
s3.put_bucket_policy(Bucket=BUCKET, Policy=doc)
got = s3.get_bucket_policy(Bucket=BUCKET)['Policy']
assert got == doc, got
status = s3.get_bucket_policy_status(Bucket=BUCKET)['PolicyStatus']
assert status['IsPublic'] is False, status

# Without the network condition, the same grant is public.
del policy['Statement'][0]['Condition']
s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
assert s3.get_bucket_policy_status(Bucket=BUCKET)['PolicyStatus']['IsPublic'] is True

bad = dict(policy, Statement=[dict(policy['Statement'][0], Resource='arn:aws:s3:::elsewhere/*')])
c, msg = code(lambda: s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(bad)))
assert c == 'MalformedPolicy' and 'elsewhere' in msg, (c, msg)
c, _ = code(lambda: s3.put_bucket_policy(Bucket=BUCKET, Policy='[]'))
assert c == 'MalformedPolicy', c

s3.delete_bucket_policy(Bucket=BUCKET)
c, _ = code(lambda: s3.get_bucket_policy_status(Bucket=BUCKET))
assert c == 'NoSuchBucketPolicy', c

# Leave the restricted policy in place for the Go side to find in the catalog.
policy['Statement'][0]['Condition'] = {'IpAddress': {'aws:SourceIp': '127.0.0.0/8'}}
s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
print('ok')
