import type { Command } from "commander";
export declare const COMMANDS: readonly { name: string; args?: string; summary: string }[];
export declare function commandOf(args: string[]): string | undefined;
export declare function oneLineErrors(cmd: Command, usage: string): void;
export declare function topLevelProgram(loaded?: Record<string, (program: Command) => void>): Command;
export declare function runWithoutCommand(argv: string[]): Promise<number>;
