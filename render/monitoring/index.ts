/**
 * The estate's monitoring, as rendered files: prometheus.yml and its alert rules, Alertmanager's
 * config, the mtail programs that turn the audit records into metrics, and the command of each
 * role's container. All pure functions of their input (sorted, no clock, no I/O).
 */
export * from './alertmanager';
export * from './alerts';
export * from './layout';
export * from './mtail';
export * from './prometheus';
