# boto3 signing with Signature Version 2 (signature_version='s3'), header and presigned.
import urllib.request, urllib.error
def v2client(secret):
    return boto3.client('s3', endpoint_url=os.environ['EP'], region_name=os.environ['REGION'],
        aws_access_key_id=os.environ['AK'], aws_secret_access_key=secret,
        config=botocore.config.Config(signature_version='s3', retries={'max_attempts': 1}, s3={'addressing_style': 'path'}))
v2 = v2client(os.environ['SK'])
for key in ('plain', 'with space/and ünïcode+plus'):
    v2.put_object(Bucket=BUCKET, Key=key, Body=b'v2 body', ContentType='text/plain', Metadata={'m': 'x'})
    got = v2.get_object(Bucket=BUCKET, Key=key)
    assert got['Body'].read() == b'v2 body' and got['Metadata'] == {'m': 'x'}, got
    assert v2.head_object(Bucket=BUCKET, Key=key)['ContentLength'] == 7
got = v2.get_object(Bucket=BUCKET, Key='plain', ResponseContentType='application/x-test')
assert got['ContentType'] == 'application/x-test', got['ContentType']
assert sorted(o['Key'] for o in v2.list_objects_v2(Bucket=BUCKET)['Contents']) == ['plain', 'with space/and ünïcode+plus']
v2.copy_object(Bucket=BUCKET, Key='copy', CopySource={'Bucket': BUCKET, 'Key': 'plain'})
up = v2.create_multipart_upload(Bucket=BUCKET, Key='multi')
etag = v2.upload_part(Bucket=BUCKET, Key='multi', UploadId=up['UploadId'], PartNumber=1, Body=b'part')['ETag']
v2.complete_multipart_upload(Bucket=BUCKET, Key='multi', UploadId=up['UploadId'],
    MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': etag}]})
assert v2.get_object(Bucket=BUCKET, Key='multi')['Body'].read() == b'part'
out = v2.delete_objects(Bucket=BUCKET, Delete={'Objects': [{'Key': 'copy'}, {'Key': 'multi'}]})
assert len(out['Deleted']) == 2, out
url = v2.generate_presigned_url('get_object', Params={'Bucket': BUCKET, 'Key': 'with space/and ünïcode+plus'}, ExpiresIn=60)
assert 'AWSAccessKeyId=' in url and 'Signature=' in url, url
assert urllib.request.urlopen(url, timeout=10).read() == b'v2 body'
url = v2.generate_presigned_url('get_object', Params={'Bucket': BUCKET, 'Key': 'plain'}, ExpiresIn=1)
time.sleep(2.1)
try:
    urllib.request.urlopen(url, timeout=10)
    raise SystemExit('an expired SigV2 URL worked')
except urllib.error.HTTPError as e:
    assert e.code == 403, e.code
try:
    v2client('wrong' + os.environ['SK']).get_object(Bucket=BUCKET, Key='plain')
    raise SystemExit('a wrong secret worked')
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == 'SignatureDoesNotMatch', e.response['Error']
print('ok')
