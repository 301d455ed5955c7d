import { Testing } from 'cdktf';
// The matchers' types (toHaveResource…): cdktf declares them in this module's global augmentation.
import type {} from 'cdktf/lib/testing/adapters/jest';

Testing.setupJest();
