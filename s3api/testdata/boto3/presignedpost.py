# A form made by boto3's generate_presigned_post, posted with requests as a browser would.
import requests
post = s3.generate_presigned_post(BUCKET, 'b3/${filename}', Fields={'x-amz-meta-by': 'boto3'},
    Conditions=[{'x-amz-meta-by': 'boto3'}, ['content-length-range', 1, 1 << 20]], ExpiresIn=300)
verify = not os.environ.get('INSECURE')
r = requests.post(post['url'], data=post['fields'], files={'file': ('hello.txt', b'hello from a form')}, verify=verify, timeout=30)
assert r.status_code == 204, (r.status_code, r.text)
o = s3.get_object(Bucket=BUCKET, Key='b3/hello.txt')
assert o['Body'].read() == b'hello from a form' and o['Metadata'] == {'by': 'boto3'}, o
# Too large for the policy's range: refused, nothing stored.
post = s3.generate_presigned_post(BUCKET, 'b3/big', Conditions=[['content-length-range', 1, 10]], ExpiresIn=300)
r = requests.post(post['url'], data=post['fields'], files={'file': ('big', b'x' * 11)}, verify=verify, timeout=30)
assert r.status_code == 400 and '<Code>EntityTooLarge</Code>' in r.text, (r.status_code, r.text)
try:
    s3.head_object(Bucket=BUCKET, Key='b3/big')
    raise SystemExit('a refused form was stored')
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == '404', e.response
print('ok')
