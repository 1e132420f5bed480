# A bucket's CORS configuration through boto3: set, read back, refused, deleted.
def code(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response['Error']['Code']
    return None

assert code(s3.get_bucket_cors, Bucket=BUCKET) == 'NoSuchCORSConfiguration'
rules = [{'ID': 'web', 'AllowedOrigins': ['https://*.example.org'], 'AllowedMethods': ['GET', 'POST'],
          'AllowedHeaders': ['*'], 'ExposeHeaders': ['ETag'], 'MaxAgeSeconds': 600},
         {'AllowedOrigins': ['*'], 'AllowedMethods': ['HEAD']}]
s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={'CORSRules': rules})
got = s3.get_bucket_cors(Bucket=BUCKET)['CORSRules']
assert got == rules, got
bad = [{'AllowedOrigins': ['*'], 'AllowedMethods': ['PATCH']}]
assert code(s3.put_bucket_cors, Bucket=BUCKET, CORSConfiguration={'CORSRules': bad}) == 'InvalidRequest'
assert s3.get_bucket_cors(Bucket=BUCKET)['CORSRules'] == rules
s3.delete_bucket_cors(Bucket=BUCKET)
assert code(s3.get_bucket_cors, Bucket=BUCKET) == 'NoSuchCORSConfiguration'
print('ok')
