/**
 * Optional policy pack: `pulumi preview --policy-pack infra/policy`. The same rules the infra
 * tests assert (infra/rules.ts), enforced as mandatory stack validations.
 */
import { PolicyPack } from "@pulumi/policy";
import { RULES } from "../rules.js";

new PolicyPack("logpipe-guardrails", {
  policies: RULES.map((rule) => ({
    name: rule.name,
    description: rule.description,
    enforcementLevel: "mandatory" as const,
    validateStack: (args, reportViolation) => {
      const resources = args.resources.map((r) => ({ type: r.type, name: r.name, inputs: r.props as Record<string, any> }));
      for (const v of rule.check(resources)) reportViolation(v);
    },
  })),
});
