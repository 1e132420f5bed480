package ec2api

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// boto3Script drives the server with boto3 and prints "ok" when every check holds.
const boto3Script = `
import os, boto3, botocore
ec2 = boto3.client('ec2', endpoint_url=os.environ['EP'], region_name=os.environ['REGION'],
    aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'],
    config=botocore.config.Config(retries={'max_attempts': 1}))
assert [r['RegionName'] for r in ec2.describe_regions()['Regions']] == [os.environ['REGION']]
kp = ec2.create_key_pair(KeyName='boto', KeyType='ed25519')
assert 'OPENSSH PRIVATE KEY' in kp['KeyMaterial']
assert [k['KeyFingerprint'] for k in ec2.describe_key_pairs(KeyNames=['boto'])['KeyPairs']] == [kp['KeyFingerprint']]
v = ec2.create_volume(Size=4, AvailabilityZone=os.environ['REGION'] + 'a',
    TagSpecifications=[{'ResourceType': 'volume', 'Tags': [{'Key': 'app', 'Value': 'web'}]}])
assert v['State'] == 'available' and v['Size'] == 4, v
ec2.create_tags(Resources=[v['VolumeId']], Tags=[{'Key': 'tier', 'Value': 'gold'}])
tags = ec2.describe_tags(Filters=[{'Name': 'resource-type', 'Values': ['volume']}])['Tags']
assert sorted((t['Key'], t['Value']) for t in tags) == [('app', 'web'), ('tier', 'gold')], tags
vols = ec2.describe_volumes(Filters=[{'Name': 'tag:tier', 'Values': ['g*']}])['Volumes']
assert [x['VolumeId'] for x in vols] == [v['VolumeId']], vols
try:
    ec2.create_volume(Size=0, AvailabilityZone=os.environ['REGION'] + 'a')
    raise SystemExit('Size=0 accepted')
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == 'InvalidParameterValue', e.response
    assert e.response['ResponseMetadata']['HTTPStatusCode'] == 400
ec2.delete_volume(VolumeId=v['VolumeId'])
ec2.delete_key_pair(KeyName='boto')
assert ec2.describe_volumes()['Volumes'] == [] and ec2.describe_key_pairs()['KeyPairs'] == []
r = ec2.run_instances(ImageId=os.environ['IMAGE'], InstanceType='t3.nano', MinCount=2, MaxCount=2)
ids = sorted(i['InstanceId'] for i in r['Instances'])
assert len(ids) == 2 and all(i['State']['Name'] == 'pending' and i['Placement']['AvailabilityZone'] == os.environ['REGION'] + 'a' for i in r['Instances']), r
res = ec2.describe_instances(InstanceIds=ids)['Reservations']
assert len(res) == 1 and res[0]['ReservationId'] == r['ReservationId'] and sorted(i['InstanceId'] for i in res[0]['Instances']) == ids, res
assert sorted(i['AmiLaunchIndex'] for i in res[0]['Instances']) == [0, 1], res
t = ec2.terminate_instances(InstanceIds=ids[:1])['TerminatingInstances']
assert t[0]['PreviousState']['Code'] == 0 and t[0]['CurrentState'] == {'Code': 32, 'Name': 'shutting-down'}, t
print('ok')
`

// TestBoto3 drives the server with boto3 under Debian's python3, if it has boto3.
func TestBoto3(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("/usr/bin/python3 has no boto3 (apt-get install python3-boto3)")
	}
	e := newEnv(t)
	putHost(t, e, "h1", testRegion+"a", 8, 16384, time.Now())
	img := putImage(t, e, "")
	k := e.Keys["alice"]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "-c", boto3Script)
	cmd.Env = []string{"HOME=" + t.TempDir(), "EP=" + e.URL, "REGION=" + testRegion, "AK=" + k.ID, "SK=" + k.Secret, "IMAGE=" + img,
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_EC2_METADATA_DISABLED=true"}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
}
